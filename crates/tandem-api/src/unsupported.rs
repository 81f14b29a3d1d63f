//! Fields the Kubernetes API knows but tandem does not implement: one table, checked against the
//! input as written. Warnings for fields whose absence does not change what the pod does on one
//! machine; errors for fields without which the pod cannot run as intended.

use crate::cx::Cx;
use crate::diag::Severity;
use crate::path::{FieldPath, Seg};
use crate::stand_ins;
use crate::yaml::{Node, Value};

/// When a rule applies to a field that is present (and not null, `{}` or `[]`).
#[derive(Debug, Clone, Copy)]
pub(crate) enum When {
    /// Whenever it is set.
    Set,
    /// When its (string) value is none of these.
    ValueNotIn(&'static [&'static str]),
    /// For every child key in none of these lists (`pattern` names the parent).
    OtherKeys(&'static [&'static [&'static str]]),
}

#[derive(Debug, Clone, Copy)]
pub(crate) struct Rule {
    /// Field path with `[*]` for list indexes; `spec.containers[*]` rules also apply to
    /// `spec.initContainers[*]`.
    pub pattern: &'static str,
    pub severity: Severity,
    pub when: When,
    /// What happens, completing "<field> ...".
    pub what: &'static str,
    pub hint: Option<&'static str>,
}

const W: Severity = Severity::Warning;
const E: Severity = Severity::Error;
const IGNORED: &str = "is not supported by tandem and is ignored";
const SCHEDULING: Option<&str> =
    Some("tandem runs every pod on this machine; scheduling constraints have no effect");

/// Volume sources tandem materialises.
pub(crate) const SUPPORTED_VOLUME_SOURCES: &[&str] = &[
    "name",
    "emptyDir",
    "hostPath",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "persistentVolumeClaim",
    "image",
];

pub(crate) const RULES: &[Rule] = &[
    // Scheduling and cluster-level pod fields.
    rule("spec.affinity", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.nodeSelector", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.tolerations", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.topologySpreadConstraints", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.schedulingGates", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.schedulingGroup", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.priorityClassName", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.preemptionPolicy", W, When::Set, IGNORED, SCHEDULING),
    rule("spec.schedulerName", W, When::ValueNotIn(&["default-scheduler"]), IGNORED, SCHEDULING),
    rule("spec.readinessGates", W, When::Set, "names pod conditions that no controller sets on one machine: the pod is not Ready until you set each of them True", Some("set a gate's condition as a controller would: `tandem patch pod NAME --subresource=status --type=merge -p '{\"status\":{\"conditions\":[{\"type\":\"GATE\",\"status\":\"True\"}]}}'`")),
    rule("spec.ephemeralContainers", E, When::Set, "cannot be set on create (Forbidden, as the API server answers)", Some("add one to the running pod with `tandem debug POD --image IMAGE` (kubectl debug)")),
    rule("spec.overhead", W, When::Set, IGNORED, None),
    rule("spec.runtimeClassName", W, When::Set, IGNORED, Some("tandem has one built-in runtime")),
    rule("spec.resourceClaims", W, When::Set, IGNORED, Some("dynamic resource allocation needs a cluster")),
    // `os: {name: linux}` is what tandem runs (and what lifecycle.stopSignal requires).
    rule("spec.os.name", W, When::ValueNotIn(&["linux"]), IGNORED, Some("tandem runs Linux pods")),
    rule("spec.hostnameOverride", W, When::Set, IGNORED, Some("use spec.hostname")),
    rule("spec.setHostnameAsFQDN", W, When::Set, IGNORED, None),
    rule("spec.evictionResponders", W, When::Set, IGNORED, None),
    rule("spec.securityContext.seLinuxOptions", W, When::Set, IGNORED, None),
    rule("spec.securityContext.seLinuxChangePolicy", W, When::Set, IGNORED, None),
    rule("spec.securityContext.appArmorProfile", W, When::Set, IGNORED, None),
    rule("spec.securityContext.windowsOptions", W, When::Set, IGNORED, None),
    // Containers (and init containers).
    rule("spec.containers[*].resizePolicy", W, When::Set, IGNORED, Some("in-place resize is not implemented")),
    rule("spec.containers[*].volumeDevices", E, When::Set, "(raw block devices) is not supported by tandem", Some("block devices need a PersistentVolumeClaim, which needs a cluster")),
    rule("spec.containers[*].resources.claims", W, When::Set, IGNORED, None),
    rule("spec.containers[*].volumeMounts[*].mountPropagation", W, When::ValueNotIn(&["None"]), "is not supported by tandem: mounts are private (None)", None),
    rule("spec.containers[*].volumeMounts[*].recursiveReadOnly", W, When::ValueNotIn(&["Disabled"]), IGNORED, None),
    rule("spec.containers[*].securityContext.seLinuxOptions", W, When::Set, IGNORED, None),
    rule("spec.containers[*].securityContext.appArmorProfile", W, When::Set, IGNORED, None),
    rule("spec.containers[*].securityContext.windowsOptions", W, When::Set, IGNORED, None),
    rule("spec.containers[*].env[*].valueFrom.fileKeyRef", E, When::Set, "is not supported by tandem", Some("use configMapKeyRef or secretKeyRef")),
    rule("spec.containers[*].volumeMounts[*].bindMountOptions", W, When::Set, IGNORED, None),
    rule("spec.containers[*].livenessProbe.httpGet.protocol", W, When::Set, IGNORED, None),
    rule("spec.containers[*].readinessProbe.httpGet.protocol", W, When::Set, IGNORED, None),
    rule("spec.containers[*].startupProbe.httpGet.protocol", W, When::Set, IGNORED, None),
    rule("spec.containers[*].livenessProbe.grpc.mode", W, When::Set, IGNORED, None),
    rule("spec.containers[*].readinessProbe.grpc.mode", W, When::Set, IGNORED, None),
    rule("spec.containers[*].startupProbe.grpc.mode", W, When::Set, IGNORED, None),
    // Volumes.
    rule("spec.volumes[*]", E, When::OtherKeys(&[SUPPORTED_VOLUME_SOURCES, stand_ins::SOURCES]), "volumes are not supported by tandem: the pod cannot run without them", Some("tandem supports emptyDir, hostPath, configMap, secret, downwardAPI, projected, persistentVolumeClaim and image volumes, and runs network and cloud disks with an empty directory standing in")),
    rule("spec.volumes[*].persistentVolumeClaim.readOnly", W, When::ValueNotIn(&["false"]), IGNORED, Some("mount it read-only with volumeMounts[].readOnly: true")),
    rule("spec.volumes[*].emptyDir.medium", E, When::ValueNotIn(&["", "Memory"]), "is not supported by tandem (use \"\" or Memory)", None),
    rule("spec.volumes[*].emptyDir.mode", W, When::Set, IGNORED, None),
    rule("spec.volumes[*].configMap.defaultUser", W, When::Set, IGNORED, None),
    rule("spec.volumes[*].secret.defaultUser", W, When::Set, IGNORED, None),
    rule("spec.volumes[*].downwardAPI.defaultUser", W, When::Set, IGNORED, None),
    rule("spec.volumes[*].projected.defaultUser", W, When::Set, IGNORED, None),
    rule("spec.volumes[*].projected.sources[*].clusterTrustBundle", E, When::Set, "is not supported by tandem", None),
    rule("spec.volumes[*].projected.sources[*].podCertificate", E, When::Set, "is not supported by tandem", None),
];

const fn rule(
    pattern: &'static str,
    severity: Severity,
    when: When,
    what: &'static str,
    hint: Option<&'static str>,
) -> Rule {
    Rule {
        pattern,
        severity,
        when,
        what,
        hint,
    }
}

/// Checks a Pod's node against [`RULES`], and says which volumes an empty directory stands in for.
pub(crate) fn check(cx: &mut Cx<'_>) {
    let root = cx.root;
    visit(cx, root, &FieldPath::root());
    stood_in(cx);
}

/// Each volume whose source cannot exist here: a warning (an error with `strict`).
fn stood_in(cx: &mut Cx<'_>) {
    let volumes = FieldPath::root().field("spec").field("volumes");
    let Some(Value::Seq(items)) = cx.root.at(&volumes).map(|n| &n.value) else {
        return;
    };
    for (i, item) in items.iter().enumerate() {
        let Some(source) = stand_ins::source_of(&item.to_json()) else {
            continue;
        };
        let name = item.get("name").and_then(Node::as_str).unwrap_or_default();
        let at = volumes.index(i).field(source);
        if cx.strict {
            cx.report(
                Severity::Error,
                &at,
                format!("{source} volume {name:?} cannot exist on this machine (--strict)"),
                Some(
                    "drop --strict to run the pod with an empty directory standing in for it"
                        .into(),
                ),
            );
        } else {
            cx.report(
                Severity::Warning,
                &at,
                format!("{source} volume {name:?} cannot exist on this machine: an empty directory stands in for it, one per pod"),
                Some("its data is not there; run with --strict to refuse such pods instead".into()),
            );
        }
    }
}

fn visit(cx: &mut Cx<'_>, node: &Node, path: &FieldPath) {
    match &node.value {
        Value::Map(entries) => {
            let generic_parent = matching_form(path);
            for rule in RULES {
                if let When::OtherKeys(allowed) = rule.when {
                    if rule.pattern == generic_parent {
                        for e in entries {
                            let known = allowed.iter().any(|l| l.contains(&e.key.as_str()));
                            if !known && !e.value.is_null() {
                                let field = path.field(&e.key);
                                let msg = format!("{} {}", e.key, rule.what);
                                cx.report(rule.severity, &field, msg, rule.hint.map(Into::into));
                            }
                        }
                    }
                }
            }
            for e in entries {
                let field = path.field(&e.key);
                let generic = matching_form(&field);
                for rule in RULES.iter().filter(|r| r.pattern == generic) {
                    let applies = match rule.when {
                        When::Set => !e.value.is_empty(),
                        When::ValueNotIn(ok) => {
                            let text = match &e.value.value {
                                Value::Str(s) => Some(s.clone()),
                                Value::Bool(b) => Some(b.to_string()),
                                _ => e.value.plain.clone(),
                            };
                            !e.value.is_null() && !text.is_some_and(|t| ok.contains(&t.as_str()))
                        }
                        When::OtherKeys(_) => false,
                    };
                    if applies {
                        let msg = format!("{} {}", cx.base.join(&field), rule.what);
                        cx.report(rule.severity, &field, msg, rule.hint.map(Into::into));
                    }
                }
                visit(cx, &e.value, &field);
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                visit(cx, item, &path.index(i));
            }
        }
        _ => {}
    }
}

/// The generic form used for matching: indexes as `[*]`, `initContainers` as `containers`.
fn matching_form(path: &FieldPath) -> String {
    let mut normalized = FieldPath::root();
    for (i, seg) in path.segs().iter().enumerate() {
        normalized = match seg {
            Seg::Field(f) if i == 1 && f == "initContainers" => normalized.field("containers"),
            Seg::Field(f) => normalized.field(f),
            Seg::Index(n) => normalized.index(*n),
            Seg::Key(k) => normalized.key(k),
        };
    }
    normalized.generic()
}
