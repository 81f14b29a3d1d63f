//! The scheduler's fields of a pod spec — affinity, topology spread constraints, scheduling
//! gates — and label selectors, validated as the API server validates them (`validateAffinity`,
//! `validateTopologySpreadConstraints`, `validateSchedulingGates` in kubernetes/kubernetes
//! pkg/apis/core/validation/validation.go; `ValidateLabelSelector` in apimachinery), at the
//! field paths it reports. tandem runs every pod on this machine, so it acts on none of them; a
//! pod a cluster would refuse is refused here too.
//!
//! Never: schedules, or decides anything from these fields.

use serde_json::Value;

use crate::cx::{enumerated, in_range, Cx};
use crate::names;
use crate::path::FieldPath;

/// Checks the scheduling fields of a pod spec (`spec` as JSON, at `p`).
pub(crate) fn check(cx: &mut Cx<'_>, spec: &Value, p: &FieldPath) {
    affinity(cx, &spec["affinity"], &p.field("affinity"));
    topology_spread(
        cx,
        &spec["topologySpreadConstraints"],
        &p.field("topologySpreadConstraints"),
    );
    let gates = items(&spec["schedulingGates"]);
    let gp = p.field("schedulingGates");
    let mut seen = Vec::new();
    for (i, g) in gates.iter().enumerate() {
        let name = g["name"].as_str().unwrap_or_default();
        if let Some(msg) = names::qualified_name(name) {
            cx.error(
                &gp.index(i),
                format!("invalid scheduling gate {name:?}: {msg}"),
            );
        }
        if seen.contains(&name) {
            cx.error(&gp.index(i), format!("duplicate scheduling gate {name:?}"));
        }
        seen.push(name);
    }
    // A pod bound to a node is past scheduling: its gates could never be lifted.
    if !gates.is_empty() && cx.given(&p.field("nodeName")) {
        cx.error(
            &p.field("nodeName"),
            "nodeName cannot be set until all schedulingGates have been cleared",
        );
    }
}

fn items(v: &Value) -> &[Value] {
    v.as_array().map(Vec::as_slice).unwrap_or_default()
}

fn strings(v: &Value) -> Vec<&str> {
    items(v).iter().filter_map(Value::as_str).collect()
}

fn affinity(cx: &mut Cx<'_>, a: &Value, p: &FieldPath) {
    if a.is_null() {
        return;
    }
    let node = &a["nodeAffinity"];
    let np = p.field("nodeAffinity");
    let required = &node["requiredDuringSchedulingIgnoredDuringExecution"];
    if !required.is_null() {
        let rp = np.field("requiredDuringSchedulingIgnoredDuringExecution");
        node_selector(cx, required, &rp);
    }
    let preferred = items(&node["preferredDuringSchedulingIgnoredDuringExecution"]);
    for (i, term) in preferred.iter().enumerate() {
        let tp = np
            .field("preferredDuringSchedulingIgnoredDuringExecution")
            .index(i);
        weight(cx, &term["weight"], &tp.field("weight"));
        node_selector_term(cx, &term["preference"], &tp.field("preference"));
    }
    for kind in ["podAffinity", "podAntiAffinity"] {
        let pa = &a[kind];
        let kp = p.field(kind);
        let rp = kp.field("requiredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in items(&pa["requiredDuringSchedulingIgnoredDuringExecution"])
            .iter()
            .enumerate()
        {
            pod_affinity_term(cx, term, &rp.index(i));
        }
        let pp = kp.field("preferredDuringSchedulingIgnoredDuringExecution");
        for (i, term) in items(&pa["preferredDuringSchedulingIgnoredDuringExecution"])
            .iter()
            .enumerate()
        {
            weight(cx, &term["weight"], &pp.index(i).field("weight"));
            pod_affinity_term(
                cx,
                &term["podAffinityTerm"],
                &pp.index(i).field("podAffinityTerm"),
            );
        }
    }
}

fn weight(cx: &mut Cx<'_>, w: &Value, p: &FieldPath) {
    in_range(cx, p, "weight", w.as_i64().unwrap_or(0), 1, 100);
}

fn node_selector(cx: &mut Cx<'_>, s: &Value, p: &FieldPath) {
    let terms = items(&s["nodeSelectorTerms"]);
    let tp = p.field("nodeSelectorTerms");
    if terms.is_empty() {
        cx.error(&tp, "must have at least one node selector term");
    }
    for (i, term) in terms.iter().enumerate() {
        node_selector_term(cx, term, &tp.index(i));
    }
}

fn node_selector_term(cx: &mut Cx<'_>, t: &Value, p: &FieldPath) {
    expressions(
        cx,
        &t["matchExpressions"],
        &p.field("matchExpressions"),
        true,
    );
    for (i, r) in items(&t["matchFields"]).iter().enumerate() {
        let rp = p.field("matchFields").index(i);
        match r["operator"].as_str().unwrap_or_default() {
            "In" | "NotIn" => {
                if strings(&r["values"]).len() != 1 {
                    cx.error(
                        &rp.field("values"),
                        "must be only one value when `operator` is 'In' or 'NotIn' for node field selector",
                    );
                }
            }
            op => cx.error(
                &rp.field("operator"),
                format!("not a valid selector operator: {op:?}"),
            ),
        }
        if r["key"].as_str() != Some("metadata.name") {
            cx.error(
                &rp.field("key"),
                "not a valid field selector key: only metadata.name",
            );
        }
    }
}

fn label_key(cx: &mut Cx<'_>, key: &Value, p: &FieldPath) {
    if let Some(msg) = names::qualified_name(key.as_str().unwrap_or_default()) {
        cx.error(p, msg);
    }
}

/// A label selector (`ValidateLabelSelector`, values of `In`/`NotIn` checked as label values).
pub(crate) fn label_selector(cx: &mut Cx<'_>, s: &Value, p: &FieldPath) {
    if s.is_null() {
        return;
    }
    for (key, value) in s["matchLabels"].as_object().into_iter().flatten() {
        let bad = names::qualified_name(key)
            .or_else(|| names::label_value(value.as_str().unwrap_or_default()));
        if let Some(msg) = bad {
            cx.error(
                &p.field("matchLabels"),
                format!("invalid label {key:?}: {msg}"),
            );
        }
    }
    expressions(
        cx,
        &s["matchExpressions"],
        &p.field("matchExpressions"),
        false,
    );
}

/// The `matchExpressions` of a label selector, or with `numeric` of a node selector term (which
/// also has `Gt` and `Lt`): a label name for a key, values as the operator wants them, each a
/// label value.
fn expressions(cx: &mut Cx<'_>, list: &Value, p: &FieldPath, numeric: bool) {
    const LABEL: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist"];
    const NODE: &[&str] = &["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"];
    for (i, r) in items(list).iter().enumerate() {
        let rp = p.index(i);
        let values = strings(&r["values"]);
        match r["operator"].as_str().unwrap_or_default() {
            "In" | "NotIn" if values.is_empty() => cx.error(
                &rp.field("values"),
                "must be specified when `operator` is 'In' or 'NotIn'",
            ),
            "Exists" | "DoesNotExist" if !values.is_empty() => cx.error(
                &rp.field("values"),
                "may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
            ),
            "Gt" | "Lt" if numeric && values.len() != 1 => cx.error(
                &rp.field("values"),
                "must be specified single value when `operator` is 'Lt' or 'Gt'",
            ),
            op => {
                let allowed = if numeric { NODE } else { LABEL };
                enumerated(cx, &rp.field("operator"), "operator", op, allowed);
            }
        }
        label_key(cx, &r["key"], &rp.field("key"));
        for (j, v) in values.iter().enumerate() {
            if let Some(msg) = names::label_value(v) {
                cx.error(&rp.field("values").index(j), msg);
            }
        }
    }
}

/// The keys of a selector that a `matchLabelKeys` entry may not name: those of `matchLabels`,
/// and of expressions other than the `KEY In [VALUE]` the API server writes itself when it merges
/// `matchLabelKeys` into the selector on create.
fn selector_keys(s: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = s["matchLabels"]
        .as_object()
        .into_iter()
        .flat_map(|m| m.keys().map(String::as_str))
        .collect();
    let merged = |r: &Value| r["operator"] == "In" && strings(&r["values"]).len() == 1;
    keys.extend(
        items(&s["matchExpressions"])
            .iter()
            .filter(|r| !merged(r))
            .filter_map(|r| r["key"].as_str()),
    );
    keys
}

fn pod_affinity_term(cx: &mut Cx<'_>, t: &Value, p: &FieldPath) {
    let selector = &t["labelSelector"];
    label_selector(cx, selector, &p.field("labelSelector"));
    label_selector(cx, &t["namespaceSelector"], &p.field("namespaceSelector"));
    for (i, ns) in strings(&t["namespaces"]).iter().enumerate() {
        if let Some(msg) = names::dns1123_label(ns) {
            // The API server names the list by its singular (`podAffinityTerm.namespace`).
            cx.error_named(
                &p.field("namespaces").index(i),
                &p.field("namespace"),
                format!("invalid namespace {ns:?}: {msg}"),
            );
        }
    }
    match t["topologyKey"].as_str().unwrap_or_default() {
        "" => cx.error(&p.field("topologyKey"), "can not be empty"),
        key => {
            if let Some(msg) = names::qualified_name(key) {
                cx.error(&p.field("topologyKey"), msg);
            }
        }
    }
    let matching = strings(&t["matchLabelKeys"]);
    let mismatching = strings(&t["mismatchLabelKeys"]);
    let in_selector = selector_keys(selector);
    for (field, keys) in [
        ("matchLabelKeys", &matching),
        ("mismatchLabelKeys", &mismatching),
    ] {
        if !keys.is_empty() && selector.is_null() {
            cx.error(
                &p.field(field),
                "must not be specified when labelSelector is not set",
            );
        }
        for (i, key) in keys.iter().enumerate() {
            let at = p.field(field).index(i);
            if let Some(msg) = names::qualified_name(key) {
                cx.error(&at, msg);
            } else if field == "matchLabelKeys" && in_selector.contains(key) {
                cx.error(
                    &at,
                    format!("{key:?} exists in both matchLabelKeys and labelSelector"),
                );
            }
        }
    }
    for (i, key) in mismatching.iter().enumerate() {
        if matching.contains(key) {
            cx.error(
                &p.field("mismatchLabelKeys").index(i),
                format!("{key:?} exists in both matchLabelKeys and mismatchLabelKeys"),
            );
        }
    }
}

fn topology_spread(cx: &mut Cx<'_>, constraints: &Value, p: &FieldPath) {
    let all = items(constraints);
    for (i, c) in all.iter().enumerate() {
        let at = p.index(i);
        let skew = c["maxSkew"].as_i64().unwrap_or(0);
        if skew <= 0 {
            cx.error(
                &at.field("maxSkew"),
                format!("maxSkew must be greater than zero, got {skew}"),
            );
        }
        match c["topologyKey"].as_str().unwrap_or_default() {
            "" => cx.error(&at.field("topologyKey"), "topologyKey is required"),
            key => {
                if let Some(msg) = names::qualified_name(key) {
                    cx.error(&at.field("topologyKey"), msg);
                }
            }
        }
        let when = c["whenUnsatisfiable"].as_str().unwrap_or_default();
        enumerated(
            cx,
            &at.field("whenUnsatisfiable"),
            "whenUnsatisfiable",
            when,
            &["DoNotSchedule", "ScheduleAnyway"],
        );
        if let Some(min) = c["minDomains"].as_i64() {
            if min <= 0 {
                cx.error(
                    &at.field("minDomains"),
                    format!("minDomains must be greater than 0, got {min}"),
                );
            } else if when != "DoNotSchedule" {
                cx.error(
                    &at.field("minDomains"),
                    "can only use minDomains if whenUnsatisfiable=DoNotSchedule",
                );
            }
        }
        for policy in ["nodeAffinityPolicy", "nodeTaintsPolicy"] {
            if let Some(v) = c[policy].as_str() {
                enumerated(cx, &at.field(policy), policy, v, &["Honor", "Ignore"]);
            }
        }
        let selector = &c["labelSelector"];
        label_selector(cx, selector, &at.field("labelSelector"));
        let keys = strings(&c["matchLabelKeys"]);
        if !keys.is_empty() && selector.is_null() {
            cx.error(
                &at.field("matchLabelKeys"),
                "must not be specified when labelSelector is not set",
            );
        }
        let in_selector = selector_keys(selector);
        for (k, key) in keys.iter().enumerate() {
            if let Some(msg) = names::qualified_name(key) {
                cx.error(&at.field("matchLabelKeys").index(k), msg);
            } else if in_selector.contains(key) {
                cx.error(
                    &at.field("matchLabelKeys").index(k),
                    format!("{key:?} exists in both matchLabelKeys and labelSelector"),
                );
            }
        }
        // One constraint per (topologyKey, whenUnsatisfiable), reported at the first, at the
        // API server's path for the pair.
        let same = all[i + 1..].iter().any(|o| {
            o["topologyKey"] == c["topologyKey"] && o["whenUnsatisfiable"] == c["whenUnsatisfiable"]
        });
        if same {
            cx.error(
                &at.field("{topologyKey, whenUnsatisfiable}"),
                "a constraint with this topologyKey and whenUnsatisfiable is already defined",
            );
        }
    }
}
