//! `tandem patch pod NAME --subresource=status --type=merge -p '{"status":{"conditions":[...]}}'`
//! (kubectl patch of the status subresource): what a controller does to satisfy a pod's
//! readiness gates (docs/kubelet-rules.md §5.2, T229). Only `status.conditions` entries whose type
//! is one of the pod's readiness gates may be set; the pod's supervisor records them and Ready
//! follows as the kubelet computes it.

use anyhow::Context;
use k8s_openapi::api::core::v1::PodCondition;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::Value;
use tandem_api::plan::PodPlan;
use tandem_supervisor::proto::Request;
use tandem_supervisor::statedir::Store;

use super::{existing_pod, pod_name};
use crate::cli::PatchArgs;
use crate::errors::hint;

const EXAMPLE: &str = r#"`tandem patch pod NAME --subresource=status --type=merge -p '{"status":{"conditions":[{"type":"GATE","status":"True"}]}}'`"#;

/// The fields of a pod condition a controller may set.
const CONDITION_FIELDS: &[&str] = &[
    "type",
    "status",
    "reason",
    "message",
    "lastTransitionTime",
    "lastProbeTime",
    "observedGeneration",
];

pub fn patch(store: &Store, a: PatchArgs) -> anyhow::Result<i32> {
    let name = target(&a.targets)?;
    match a.subresource.as_deref() {
        Some("status") => {}
        None => {
            return Err(hint(
                "tandem patch changes a pod's status only",
                format!("pass --subresource=status: {EXAMPLE}"),
            ))
        }
        Some(other) => {
            return Err(hint(
                format!("unsupported subresource {other:?}"),
                format!("only --subresource=status is supported: {EXAMPLE}"),
            ))
        }
    }
    match a.patch_type.as_str() {
        "merge" | "strategic" => {}
        other => {
            return Err(hint(
                format!("unsupported patch type {other:?}"),
                format!("use --type=merge (or strategic, the default): {EXAMPLE}"),
            ))
        }
    }
    let conditions = parse_patch(&a.patch)?;
    let dir = existing_pod(store, &a.namespace, &name)?;
    let plan: PodPlan = {
        let bytes = std::fs::read(dir.plan_json())
            .with_context(|| format!("cannot read {}", dir.plan_json().display()))?;
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid", dir.plan_json().display()))?
    };
    // Checked here too, so a pod that has ended gets the same answer as a running one.
    if let Some(problem) = conditions
        .iter()
        .find_map(|c| plan.gate_condition_problem(&c.type_, &c.status))
    {
        return Err(hint(
            problem,
            "only the conditions of a pod's spec.readinessGates are set from outside; the kubelet's own conditions follow its containers",
        ));
    }
    super::ensure_changeable(
        &dir,
        &name,
        "its status no longer changes",
        format!("`tandem get pod {name}` shows how it ended"),
    )?;
    super::ask_supervisor(
        &dir,
        &name,
        &Request::SetConditions { conditions },
        "patch",
        &format!("`tandem get pod {name} -o yaml` shows its readiness gates and conditions"),
    )?;
    println!("pod/{name} patched");
    Ok(0)
}

/// `pod NAME`, `pod/NAME` or `NAME`.
fn target(targets: &[String]) -> anyhow::Result<String> {
    let usage = format!("name one pod: {EXAMPLE}");
    match targets {
        [kind, name] if matches!(kind.as_str(), "pod" | "pods" | "po") => Ok(name.clone()),
        [kind, _] => Err(hint(
            format!("unsupported resource {kind:?}: tandem patches pods only"),
            usage,
        )),
        [one] if one.starts_with("pod/") || one.starts_with("pods/") => {
            Ok(pod_name(one).to_string())
        }
        [one] if !matches!(one.as_str(), "pod" | "pods" | "po") && !one.contains('/') => {
            Ok(one.clone())
        }
        _ => Err(hint("no pod named", usage)),
    }
}

/// The conditions of `{"status":{"conditions":[...]}}`; anything else is refused, since a
/// controller on one machine has nothing else of a pod's status to set.
fn parse_patch(text: &str) -> anyhow::Result<Vec<PodCondition>> {
    let value: Value = serde_json::from_str(text).map_err(|e| {
        hint(
            format!("the patch is not valid JSON: {e}"),
            format!("quote it for the shell: {EXAMPLE}"),
        )
    })?;
    let only_conditions = || {
        hint(
            "only status.conditions can be patched",
            format!("set the conditions of the pod's readiness gates: {EXAMPLE}"),
        )
    };
    let Value::Object(top) = value else {
        return Err(only_conditions());
    };
    if top.keys().any(|k| k != "status") {
        return Err(only_conditions());
    }
    let Some(Value::Object(status)) = top.get("status") else {
        return Err(only_conditions());
    };
    if status.keys().any(|k| k != "conditions") {
        return Err(only_conditions());
    }
    let Some(Value::Array(items)) = status.get("conditions") else {
        return Err(only_conditions());
    };
    if items.is_empty() {
        return Err(hint("the patch sets no condition", EXAMPLE));
    }
    let mut out: Vec<PodCondition> = vec![];
    for (i, item) in items.iter().enumerate() {
        let Value::Object(fields) = item else {
            return Err(hint(
                format!("status.conditions[{i}] is not an object"),
                EXAMPLE,
            ));
        };
        if let Some(k) = fields
            .keys()
            .find(|k| !CONDITION_FIELDS.contains(&k.as_str()))
        {
            return Err(hint(
                format!("status.conditions[{i}] has an unknown field {k:?}"),
                format!("a condition has {}", CONDITION_FIELDS.join(", ")),
            ));
        }
        let text = |k: &str| -> anyhow::Result<Option<String>> {
            match fields.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(_) => Err(hint(
                    format!("status.conditions[{i}].{k} must be a string"),
                    EXAMPLE,
                )),
            }
        };
        let Some(type_) = text("type")?.filter(|t| !t.is_empty()) else {
            return Err(hint(
                format!("status.conditions[{i}].type is required"),
                EXAMPLE,
            ));
        };
        let status = text("status")?.unwrap_or_default();
        if !matches!(status.as_str(), "True" | "False" | "Unknown") {
            return Err(hint(
                format!(
                    "status.conditions[{i}].status must be True, False or Unknown, got {status:?}"
                ),
                EXAMPLE,
            ));
        }
        let time = |k: &str| -> anyhow::Result<Option<Time>> {
            text(k)?
                .map(|t| {
                    serde_json::from_value(Value::String(t.clone())).map_err(|_| {
                        hint(
                            format!("status.conditions[{i}].{k} is not an RFC 3339 time: {t:?}"),
                            "write it as 2024-01-02T03:04:05Z, or leave it out",
                        )
                    })
                })
                .transpose()
        };
        let condition = PodCondition {
            type_,
            status,
            reason: text("reason")?,
            message: text("message")?,
            last_transition_time: time("lastTransitionTime")?,
            last_probe_time: time("lastProbeTime")?,
            observed_generation: fields.get("observedGeneration").and_then(Value::as_i64),
        };
        // A strategic merge patch merges conditions by type: the last entry of a type wins.
        match out.iter_mut().find(|c| c.type_ == condition.type_) {
            Some(c) => *c = condition,
            None => out.push(condition),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_pod_is_named_as_kubectl_names_it() {
        for a in [&["pod", "web"][..], &["pod/web"], &["web"], &["po", "web"]] {
            assert_eq!(target(&args(a)).expect("parses"), "web", "{a:?}");
        }
        for a in [&["svc", "web"][..], &["pod"], &["deploy/web"]] {
            assert!(target(&args(a)).is_err(), "{a:?}");
        }
    }

    #[test]
    fn conditions_are_read_and_merged_by_type() {
        let got = parse_patch(
            r#"{"status":{"conditions":[{"type":"g1","status":"True","reason":"Done"},{"type":"g2","status":"False"},{"type":"g1","status":"False"}]}}"#,
        )
        .expect("parses");
        let brief: Vec<(&str, &str)> = got
            .iter()
            .map(|c| (c.type_.as_str(), c.status.as_str()))
            .collect();
        assert_eq!(brief, [("g1", "False"), ("g2", "False")]);
        let got = parse_patch(
            r#"{"status":{"conditions":[{"type":"g","status":"True","lastTransitionTime":"2024-01-02T03:04:05Z"}]}}"#,
        )
        .expect("parses");
        assert!(got[0].last_transition_time.is_some());
    }

    #[test]
    fn anything_but_status_conditions_is_refused() {
        for p in [
            "not json",
            "[]",
            r#"{"spec":{}}"#,
            r#"{"status":{"phase":"Running"}}"#,
            r#"{"status":{"conditions":[{"type":"g","status":"True"}],"phase":"Failed"}}"#,
            r#"{"status":{"conditions":[]}}"#,
            r#"{"status":{"conditions":["g"]}}"#,
            r#"{"status":{"conditions":[{"status":"True"}]}}"#,
            r#"{"status":{"conditions":[{"type":"g","status":"Yes"}]}}"#,
            r#"{"status":{"conditions":[{"type":"g","status":"True","colour":"red"}]}}"#,
            r#"{"status":{"conditions":[{"type":"g","status":"True","lastTransitionTime":"now"}]}}"#,
        ] {
            assert!(parse_patch(p).is_err(), "{p}");
        }
    }

    #[test]
    fn only_readiness_gates_may_be_set() {
        let mut plan = PodPlan::new("p", vec![], vec![]);
        assert!(plan
            .gate_condition_problem("example.com/feature-1", "True")
            .is_some());
        plan.readiness_gates = vec!["example.com/feature-1".to_string()];
        assert!(plan
            .gate_condition_problem("example.com/feature-1", "True")
            .is_none());
        assert!(plan.gate_condition_problem("Ready", "True").is_some());
        assert!(plan
            .gate_condition_problem("example.com/feature-1", "Yes")
            .is_some());
    }
}
