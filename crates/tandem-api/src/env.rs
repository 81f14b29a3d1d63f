//! Container environments as the kubelet builds them (`makeEnvironmentVariables`) and `$(VAR)`
//! expansion (`third_party/forked/golang/expansion`).

use std::collections::{BTreeMap, HashMap};

use thiserror::Error;

use crate::plan::{
    ContainerPlan, EnvValue, FileContent, FilePart, FileProjection, ObjectKeyRef, ObjectKind,
    PodPlan, ResourceFieldRef,
};
use crate::quantity::parse_quantity;

/// Facts known only once the pod's sandbox exists.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RuntimeFacts {
    pub pod_ip: String,
    pub pod_ips: Vec<String>,
    pub host_ip: String,
    /// Used for `limits.cpu` when the container sets no CPU limit.
    pub node_allocatable_cpu_millis: u64,
    /// Used for `limits.memory` when the container sets no memory limit.
    pub node_allocatable_memory_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum EnvError {
    #[error("unsupported fieldRef fieldPath {0:?}")]
    UnsupportedFieldPath(String),
    #[error("unsupported resourceFieldRef resource {0:?}")]
    UnsupportedResource(String),
    #[error("resourceFieldRef names container {0:?}, which is not in the pod")]
    NoSuchContainer(String),
    #[error("invalid resourceFieldRef divisor {0:?}: must be a positive quantity")]
    InvalidDivisor(String),
    #[error("{0} is not set on container {1:?} and the node's allocatable amount is not known")]
    NoLimit(String, String),
    /// The kubelet's words: the API server's NotFound.
    #[error("{} {name:?} not found", kind.name().to_ascii_lowercase())]
    ObjectNotFound { kind: ObjectKind, name: String },
    /// The kubelet's words (`makeEnvironmentVariables`).
    #[error("couldn't find key {key} in {} {namespace}/{name}", kind.name())]
    KeyNotFound {
        kind: ObjectKind,
        namespace: String,
        name: String,
        key: String,
    },
}

/// The ConfigMaps and Secrets of the pod's namespace a container reads when it is created
/// ([`EnvValue::FromObject`]) and its volumes when they are set up
/// ([`crate::plan::ObjectFiles`]), by kind and name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Objects(BTreeMap<(ObjectKind, String), ObjectData>);

/// One object's keys, as the environment and as files see them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ObjectData {
    /// A ConfigMap's `data`, a Secret's decoded values (a value that is not UTF-8 taken lossily).
    env: BTreeMap<String, String>,
    /// The same, with a ConfigMap's `binaryData` too, as bytes.
    files: BTreeMap<String, Vec<u8>>,
}

impl Objects {
    /// Adds a ConfigMap or Secret as the API server stores it (a Secret's `data` base64, its
    /// `stringData` over it; a ConfigMap's `binaryData` base64, for files only).
    pub fn insert(&mut self, kind: ObjectKind, object: &serde_json::Value) {
        use base64::Engine as _;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().as_bytes().to_vec();
        let decoded = |v: &serde_json::Value| {
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().unwrap_or_default())
                .unwrap_or_default()
        };
        let entries = |field: &str| {
            object[field]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v))
                .collect::<Vec<_>>()
        };
        let mut values: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let mut files_only: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        match kind {
            ObjectKind::ConfigMap => {
                values.extend(entries("data").into_iter().map(|(k, v)| (k, text(v))));
                files_only.extend(
                    entries("binaryData")
                        .into_iter()
                        .map(|(k, v)| (k, decoded(v))),
                );
            }
            ObjectKind::Secret => {
                values.extend(entries("data").into_iter().map(|(k, v)| (k, decoded(v))));
                values.extend(entries("stringData").into_iter().map(|(k, v)| (k, text(v))));
            }
        }
        let env = values
            .iter()
            .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
            .collect();
        values.extend(files_only);
        let data = ObjectData { env, files: values };
        self.0.insert((kind, name.to_string()), data);
    }

    fn get(&self, kind: ObjectKind, name: &str) -> Option<&BTreeMap<String, String>> {
        self.0.get(&(kind, name.to_string())).map(|d| &d.env)
    }

    /// An object's keys as a volume projects them.
    pub fn files(&self, kind: ObjectKind, name: &str) -> Option<&BTreeMap<String, Vec<u8>>> {
        self.0.get(&(kind, name.to_string())).map(|d| &d.files)
    }
}

/// Why a file volume cannot be made now, in the kubelet's configMap and secret volume plugins'
/// words (shown in `FailedMount` events).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum VolumeFilesError {
    #[error("{} {name:?} not found", kind.name().to_ascii_lowercase())]
    NotFound { kind: ObjectKind, name: String },
    #[error("{} references non-existent {} key: {key}", kind.name().to_ascii_lowercase(), match kind { ObjectKind::ConfigMap => "config", ObjectKind::Secret => "secret" })]
    KeyNotFound { kind: ObjectKind, key: String },
}

/// The files of a file volume from its parts, in order: each ConfigMap's or Secret's keys as
/// `objects` holds them, or, with `use_held`, as the pod was loaded with them where `objects`
/// lacks the object (a volume's first set-up: the objects a pod came with are its own). An
/// optional object or key that is missing is left out; any other is the error.
pub fn volume_files(
    parts: &[FilePart],
    objects: &Objects,
    use_held: bool,
) -> Result<Vec<FileProjection>, VolumeFilesError> {
    let mut out = Vec::new();
    for part in parts {
        let (o, optional, held) = match part {
            FilePart::Fixed(files) => {
                out.extend(files.iter().cloned());
                continue;
            }
            FilePart::Token(t) => {
                out.push(FileProjection {
                    path: t.path.clone(),
                    mode: t.mode,
                    content: FileContent::Token(t.token.clone()),
                });
                continue;
            }
            FilePart::Object {
                files,
                optional,
                held,
            } => (files, *optional, held.as_ref().filter(|_| use_held)),
        };
        let Some(content) = objects.files(o.kind, &o.name).or(held) else {
            if optional {
                continue;
            }
            return Err(VolumeFilesError::NotFound {
                kind: o.kind,
                name: o.name.clone(),
            });
        };
        let (files, missing) = o.project(content);
        if let (false, Some(&i)) = (optional, missing.first()) {
            return Err(VolumeFilesError::KeyNotFound {
                kind: o.kind,
                key: o.items[i].key.clone(),
            });
        }
        out.extend(files);
    }
    Ok(out)
}

/// The objects a container's environment reads when it is created.
pub fn object_refs(container: &ContainerPlan) -> impl Iterator<Item = &ObjectKeyRef> {
    container.env.iter().filter_map(|v| match &v.value {
        EnvValue::FromObject(r) => Some(r),
        _ => None,
    })
}

/// Expands `$(VAR)` references exactly as the kubelet does:
///
/// * `$(VAR)` is replaced by `lookup("VAR")` when it returns `Some`, and kept as `$(VAR)` otherwise;
/// * `$$` is an escaped `$` (so `$$(VAR)` gives the literal `$(VAR)`);
/// * a `$` followed by anything else, an unterminated `$(`, or a trailing `$` stay as written;
/// * replacements are not expanded again.
///
/// (The Go original turns `$` followed by a multi-byte character into mojibake; here the character
/// is kept intact.)
pub fn expand(input: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let mut chars = after.chars();
        match chars.next() {
            // A lone `$` at the end.
            None => {
                out.push('$');
                rest = after;
            }
            Some('$') => {
                out.push('$');
                rest = &after[1..];
            }
            Some('(') => match after[1..].find(')') {
                Some(close) => {
                    let name = &after[1..1 + close];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => {
                            out.push_str("$(");
                            out.push_str(name);
                            out.push(')');
                        }
                    }
                    rest = &after[close + 2..];
                }
                None => {
                    out.push_str("$(");
                    rest = &after[1..];
                }
            },
            Some(c) => {
                out.push('$');
                out.push(c);
                rest = chars.as_str();
            }
        }
    }
    out.push_str(rest);
    out
}

/// The prober's `$(VAR)` expansion of an exec probe command (the kubelet's
/// `ExpandContainerCommandOnlyStatic`): only the container's own `env` list counts, each name
/// mapped to its `value:` exactly as written (not itself expanded). An entry with `valueFrom` maps
/// to the empty string, `envFrom` keys and undefined names stay `$(VAR)`, later entries win.
/// So a probe does not see ConfigMap, Secret or downward-API values even where the container does.
pub(crate) fn expand_only_static(
    command: &[String],
    env: &[k8s_openapi::api::core::v1::EnvVar],
) -> Vec<String> {
    let map: HashMap<&str, &str> = env
        .iter()
        .map(|e| (e.name.as_str(), e.value.as_deref().unwrap_or_default()))
        .collect();
    command
        .iter()
        .map(|arg| expand(arg, |name| map.get(name).map(|v| v.to_string())))
        .collect()
}

/// Escapes `$` so that [`expand`] gives `s` back unchanged (values the kubelet does not expand).
pub(crate) fn escape(s: &str) -> String {
    s.replace('$', "$$")
}

/// The container's final environment, in order of first definition, later definitions winning.
///
/// Each literal is expanded against the variables defined before it; `fieldRef` and
/// `resourceFieldRef` are resolved with `facts` and not expanded. Values that came from ConfigMaps,
/// Secrets and `envFrom` are stored escaped in the plan, so they come out verbatim.
///
/// References to objects that were not loaded with the pod ([`EnvValue::FromObject`]) are read
/// from `objects`, as the kubelet reads them when it creates the container; a missing one that
/// is not optional is an error (the start's CreateContainerConfigError).
pub fn resolve(
    plan: &PodPlan,
    container: &ContainerPlan,
    facts: &RuntimeFacts,
    objects: &Objects,
) -> Result<Vec<(String, String)>, EnvError> {
    let mut env = Ordered::default();
    for var in &container.env {
        let value = match &var.value {
            EnvValue::Literal(s) => expand(s, |name| env.get(name)),
            EnvValue::FieldRef(path) => resolve_field_ref(plan, path, facts)?,
            EnvValue::ResourceFieldRef(r) => {
                let mut r = r.clone();
                if r.container_name.is_empty() {
                    r.container_name.clone_from(&container.name);
                }
                resolve_resource_field_ref(plan, &r, facts)?
            }
            EnvValue::FromObject(r) => {
                let Some(data) = objects.get(r.kind, &r.name) else {
                    if r.optional {
                        continue;
                    }
                    return Err(EnvError::ObjectNotFound {
                        kind: r.kind,
                        name: r.name.clone(),
                    });
                };
                match &r.key {
                    Some(key) => match data.get(key) {
                        Some(v) => v.clone(),
                        None if r.optional => continue,
                        None => {
                            return Err(EnvError::KeyNotFound {
                                kind: r.kind,
                                namespace: plan.namespace.clone(),
                                name: r.name.clone(),
                                key: key.clone(),
                            })
                        }
                    },
                    None => {
                        // envFrom: every key, prefixed; a name no environment can hold is
                        // left out, as the kubelet leaves it out.
                        for (k, v) in data {
                            let name = format!("{}{k}", var.name);
                            if crate::names::env_var_name(&name).is_none() {
                                env.set(name, v.clone());
                            }
                        }
                        continue;
                    }
                }
            }
        };
        env.set(var.name.clone(), value);
    }
    Ok(env.order)
}

/// Variables in order of first definition; a later definition replaces the value in place.
#[derive(Default)]
struct Ordered {
    order: Vec<(String, String)>,
    index: HashMap<String, usize>,
}

impl Ordered {
    fn get(&self, name: &str) -> Option<String> {
        self.index.get(name).map(|&i| self.order[i].1.clone())
    }

    fn set(&mut self, name: String, value: String) {
        match self.index.get(&name) {
            Some(&i) => self.order[i].1 = value,
            None => {
                self.index.insert(name.clone(), self.order.len());
                self.order.push((name, value));
            }
        }
    }
}

/// Resolves a downward-API `fieldPath` (env `fieldRef` or a downwardAPI volume item).
///
/// Supported: `metadata.name|namespace|uid`, `metadata.labels['k']`, `metadata.annotations['k']`,
/// `metadata.labels`, `metadata.annotations` (all of them, `key="value"` lines sorted by key),
/// `spec.nodeName`, `spec.serviceAccountName`, `status.hostIP`, `status.hostIPs`, `status.podIP`,
/// `status.podIPs` (comma-joined).
pub fn resolve_field_ref(
    plan: &PodPlan,
    field_path: &str,
    facts: &RuntimeFacts,
) -> Result<String, EnvError> {
    if let Some(v) = static_field_ref(plan, field_path) {
        return Ok(v);
    }
    Ok(match field_path {
        "spec.nodeName" => plan.node_name.clone(),
        "spec.serviceAccountName" => plan.service_account_name.clone(),
        "status.hostIP" | "status.hostIPs" => facts.host_ip.clone(),
        "status.podIP" => facts.pod_ip.clone(),
        "status.podIPs" => {
            if facts.pod_ips.is_empty() {
                facts.pod_ip.clone()
            } else {
                facts.pod_ips.join(",")
            }
        }
        other => return Err(EnvError::UnsupportedFieldPath(other.to_string())),
    })
}

/// Field paths whose value the plan holds.
fn static_field_ref(plan: &PodPlan, field_path: &str) -> Option<String> {
    Some(match field_path {
        "metadata.name" => plan.name.clone(),
        "metadata.namespace" => plan.namespace.clone(),
        "metadata.uid" => plan.uid.clone(),
        "metadata.labels" => format_map(&plan.labels),
        "metadata.annotations" => format_map(&plan.annotations),
        _ => {
            if let Some(key) = subscript(field_path, "metadata.labels") {
                plan.labels.get(key).cloned().unwrap_or_default()
            } else if let Some(key) = subscript(field_path, "metadata.annotations") {
                plan.annotations.get(key).cloned().unwrap_or_default()
            } else {
                return None;
            }
        }
    })
}

/// `metadata.labels['key']` → `key` (also with double quotes).
pub(crate) fn subscript<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let inner = path
        .strip_prefix(prefix)?
        .strip_prefix('[')?
        .strip_suffix(']')?;
    inner
        .strip_prefix('\'')
        .and_then(|s| s.strip_suffix('\''))
        .or_else(|| inner.strip_prefix('"').and_then(|s| s.strip_suffix('"')))
}

/// The kubelet's `fieldpath.FormatMap`: `key="value"` lines sorted by key, Go-quoted values, no
/// trailing newline.
pub(crate) fn format_map(map: &BTreeMap<String, String>) -> String {
    map.iter()
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Go's `strconv.Quote` for the characters that appear in labels and annotations.
fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() => {
                if (c as u32) <= 0xffff {
                    out.push_str(&format!("\\u{:04x}", c as u32));
                } else {
                    out.push_str(&format!("\\U{:08x}", c as u32));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Resolves a `resourceFieldRef` (`limits.cpu`, `requests.memory`, ...) divided by its divisor and
/// rounded up, as `ExtractContainerResourceValue` does. Unset limits are the node's allocatable
/// amount; unset requests are 0 (requests already default to limits in the plan).
pub fn resolve_resource_field_ref(
    plan: &PodPlan,
    r: &ResourceFieldRef,
    facts: &RuntimeFacts,
) -> Result<String, EnvError> {
    let container = plan
        .container(&r.container_name)
        .ok_or_else(|| EnvError::NoSuchContainer(r.container_name.clone()))?;
    // Unset, or zero (which the API server takes as unset): 1.
    let zero = parse_quantity(r.divisor.trim()).is_ok_and(|d| d.is_zero());
    let divisor_text = if r.divisor.trim().is_empty() || zero {
        "1"
    } else {
        r.divisor.as_str()
    };
    let divisor = parse_quantity(divisor_text)
        .ok()
        .filter(|d| !d.is_negative() && !d.is_zero())
        .ok_or_else(|| EnvError::InvalidDivisor(r.divisor.clone()))?;
    let res = &container.resources;
    let no_limit = || EnvError::NoLimit(r.resource.clone(), container.name.clone());
    let (amount, unit) = match r.resource.as_str() {
        "limits.cpu" => (
            res.limits
                .cpu_millis
                .unwrap_or(facts.node_allocatable_cpu_millis),
            divisor.cpu_millis(),
        ),
        "requests.cpu" => (res.requests.cpu_millis.unwrap_or(0), divisor.cpu_millis()),
        "limits.memory" => (
            res.limits
                .memory_bytes
                .unwrap_or(facts.node_allocatable_memory_bytes),
            divisor.bytes(),
        ),
        "requests.memory" => (res.requests.memory_bytes.unwrap_or(0), divisor.bytes()),
        "limits.ephemeral-storage" => (
            res.limits.ephemeral_storage_bytes.ok_or_else(no_limit)?,
            divisor.bytes(),
        ),
        "requests.ephemeral-storage" => (
            res.requests.ephemeral_storage_bytes.unwrap_or(0),
            divisor.bytes(),
        ),
        other => return Err(EnvError::UnsupportedResource(other.to_string())),
    };
    let unit = unit
        .filter(|u| *u > 0)
        .ok_or_else(|| EnvError::InvalidDivisor(r.divisor.clone()))?;
    Ok(amount.div_ceil(unit).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(name: &str) -> Option<String> {
        match name {
            "VAR_A" => Some("A".into()),
            "VAR_B" => Some("B".into()),
            "VAR_C" => Some("C".into()),
            "VAR_REF" => Some("$(VAR_A)".into()),
            "VAR_EMPTY" => Some(String::new()),
            _ => None,
        }
    }

    /// The cases of the kubelet's `expand_test.go`, with its inputs and expected outputs.
    #[test]
    fn expansion_matches_the_kubelet() {
        let cases = [
            ("whole string", "$(VAR_A)", "A"),
            ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
            (
                "multiple repeats",
                "$(VAR_A)-$(VAR_B)-$(VAR_B)-$(VAR_B)-$(VAR_A)",
                "A-B-B-B-A",
            ),
            ("beginning", "$(VAR_A)-1", "A-1"),
            ("middle", "___$(VAR_B)___", "___B___"),
            ("end", "___$(VAR_C)", "___C"),
            ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
            ("escape & expansion", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
            (
                "compound escape",
                "$$(VAR_A)_$$(VAR_B)",
                "$(VAR_A)_$(VAR_B)",
            ),
            ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
            ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
            (
                "backslash escape ignored",
                "foo\\\\$(VAR_C)bar",
                "foo\\\\Cbar",
            ),
            (
                "lots of backslashes",
                "foo\\\\\\\\$(VAR_A)bar",
                "foo\\\\\\\\Abar",
            ),
            (
                "nested var references",
                "$(VAR_A$(VAR_B))",
                "$(VAR_A$(VAR_B))",
            ),
            (
                "nested var references second type",
                "$(VAR_A$(VAR_B)",
                "$(VAR_A$(VAR_B)",
            ),
            ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
            (
                "value is a reference x 2",
                "%%$(VAR_REF)--$(VAR_REF)%%",
                "%%$(VAR_A)--$(VAR_A)%%",
            ),
            ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
            (
                "unterminated expression",
                "foo$(VAR_Awhoops!",
                "foo$(VAR_Awhoops!",
            ),
            (
                "expression without operator",
                "f00__(VAR_A)__",
                "f00__(VAR_A)__",
            ),
            ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
            ("bare operators are ignored", "$VAR_A", "$VAR_A"),
            (
                "undefined vars are passed through",
                "$(VAR_DNE)",
                "$(VAR_DNE)",
            ),
            (
                "multiple (even) operators, var undefined",
                "$$$$$$(BIG_MONEY)",
                "$$$(BIG_MONEY)",
            ),
            (
                "multiple (even) operators, var defined",
                "$$$$$$(VAR_A)",
                "$$$(VAR_A)",
            ),
            (
                "multiple (odd) operators, var undefined",
                "$$$$$$$(GOOD_ODDS)",
                "$$$$(GOOD_ODDS)",
            ),
            (
                "multiple (odd) operators, var defined",
                "$$$$$$$(VAR_A)",
                "$$$A",
            ),
            ("missing open expression", "$VAR_A)", "$VAR_A)"),
            ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
            (
                "trailing incomplete expression not consumed",
                "$(VAR_B)_______$(A",
                "B_______$(A",
            ),
            (
                "trailing incomplete expression, no content, is not consumed",
                "$(VAR_C)_______$(",
                "C_______$(",
            ),
            (
                "operator at end of input string is preserved",
                "$(VAR_A)foobarzab$",
                "Afoobarzab$",
            ),
            (
                "shell escaped incomplete expr",
                "foo-\\$(VAR_A",
                "foo-\\$(VAR_A",
            ),
            ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
            (
                "lots of $( in beginning",
                "$($($($($--foo$(",
                "$($($($($--foo$(",
            ),
            ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
            (
                "escaped operators in variable names are not escaped",
                "$(foo$$var)",
                "$(foo$$var)",
            ),
            ("newline not expanded", "\n", "\n"),
            ("escaped operator", "$$", "$"),
            ("lone operator", "$", "$"),
            ("empty reference", "$()", "$()"),
            ("utf-8 after operator", "$é$(VAR_A)", "$éA"),
        ];
        for (name, input, want) in cases {
            assert_eq!(expand(input, vars), want, "{name}: {input:?}");
        }
    }

    #[test]
    fn escape_round_trips_through_expand() {
        for s in ["$(VAR_A)", "$$", "a$b", "$(", "plain", "$"] {
            assert_eq!(expand(&escape(s), vars), s);
        }
    }

    #[test]
    fn format_map_is_sorted_and_go_quoted() {
        let m: BTreeMap<String, String> = [
            ("b".to_string(), "two \"2\"".to_string()),
            ("a".to_string(), "one\nline".to_string()),
        ]
        .into_iter()
        .collect();
        assert_eq!(format_map(&m), "a=\"one\\nline\"\nb=\"two \\\"2\\\"\"");
    }

    #[test]
    fn subscripts() {
        assert_eq!(
            subscript("metadata.labels['app']", "metadata.labels"),
            Some("app")
        );
        assert_eq!(
            subscript("metadata.labels[\"a/b\"]", "metadata.labels"),
            Some("a/b")
        );
        assert_eq!(subscript("metadata.labels", "metadata.labels"), None);
    }
}
