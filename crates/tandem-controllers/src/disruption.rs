//! PodDisruptionBudgets, as the disruption controller counts them
//! (`pkg/controller/disruption/disruption.go`) and the eviction subresource judges an eviction
//! by them (`pkg/registry/core/pod/storage/eviction.go`): a budget's healthy pods are the ready
//! pods its selector picks that are not being deleted; `minAvailable` (a number, or a percentage
//! of the pods picked, rounded up) or `maxUnavailable` (of the pods picked, a percentage rounded
//! up) says how many must stay healthy; an eviction of a healthy pod is allowed while more than
//! that are. On a cluster the pods picked are counted from their controllers' scale; here, as the
//! pods themselves (one machine: a controller's pods are all there).

use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::observed::is_ready as ready;

/// A budget as the disruption controller writes its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    pub expected_pods: i32,
    pub current_healthy: i32,
    pub desired_healthy: i32,
    pub disruptions_allowed: i32,
}

/// What the eviction subresource answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Delete the pod.
    Allowed,
    /// `429 TooManyRequests`, with the cause's words.
    Refused { cause: String },
    /// `500`: the API server does not choose among several budgets.
    SeveralBudgets,
}

/// The API server's words for an eviction its budget does not allow.
pub const REFUSED: &str = "Cannot evict pod as it would violate the pod's disruption budget.";
/// ... and for a pod with more than one budget.
pub const SEVERAL: &str =
    "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.";

fn selects(pdb: &PodDisruptionBudget, pod: &Pod) -> bool {
    let Some(selector) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else {
        return false;
    };
    pod.metadata.namespace == pdb.metadata.namespace
        && tandem_api::workloads::selector_of(selector)
            .is_ok_and(|s| s.matches(&pod.metadata.labels.clone().unwrap_or_default()))
}

/// `n` of `of`, a number or a percentage rounded up.
fn scaled(n: &IntOrString, of: i32) -> i32 {
    match n {
        IntOrString::Int(i) => *i,
        IntOrString::String(p) => {
            let pct: i64 = p.trim_end_matches('%').parse().unwrap_or(0);
            ((pct * i64::from(of) + 99) / 100) as i32
        }
    }
}

/// The budget's counts over the pods of the store.
pub fn budget(pdb: &PodDisruptionBudget, pods: &[Pod]) -> Budget {
    let picked: Vec<&Pod> = pods
        .iter()
        .filter(|p| selects(pdb, p))
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect();
    let expected_pods = picked.len() as i32;
    let current_healthy = picked.iter().filter(|p| ready(p)).count() as i32;
    let spec = pdb.spec.clone().unwrap_or_default();
    let desired_healthy = match (&spec.min_available, &spec.max_unavailable) {
        (Some(min), _) => scaled(min, expected_pods),
        (None, Some(max)) => (expected_pods - scaled(max, expected_pods)).max(0),
        (None, None) => 0,
    };
    Budget {
        expected_pods,
        current_healthy,
        desired_healthy,
        disruptions_allowed: (current_healthy - desired_healthy).max(0),
    }
}

/// Whether `pod` may be evicted now, by the budgets of its namespace.
pub fn eviction(pod: &Pod, budgets: &[PodDisruptionBudget], pods: &[Pod]) -> Verdict {
    // A pod that is going, finished or not yet running disrupts nothing (`canIgnorePDB`).
    let phase = pod.status.as_ref().and_then(|s| s.phase.as_deref());
    if pod.metadata.deletion_timestamp.is_some()
        || matches!(phase, Some("Succeeded" | "Failed" | "Pending"))
    {
        return Verdict::Allowed;
    }
    let mine: Vec<&PodDisruptionBudget> = budgets.iter().filter(|b| selects(b, pod)).collect();
    let pdb = match mine.as_slice() {
        [] => return Verdict::Allowed,
        [one] => *one,
        _ => return Verdict::SeveralBudgets,
    };
    let b = budget(pdb, pods);
    // An unhealthy pod may go while the budget is met (`IfHealthyBudget`), or always.
    let always = pdb
        .spec
        .as_ref()
        .and_then(|s| s.unhealthy_pod_eviction_policy.as_deref())
        == Some("AlwaysAllow");
    if !ready(pod) && (always || (b.current_healthy >= b.desired_healthy && b.desired_healthy > 0))
    {
        return Verdict::Allowed;
    }
    if b.disruptions_allowed > 0 {
        return Verdict::Allowed;
    }
    Verdict::Refused {
        cause: format!(
            "The disruption budget {} needs {} healthy pods and has {} currently",
            pdb.metadata.name.as_deref().unwrap_or_default(),
            b.desired_healthy,
            b.current_healthy
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "status": {"phase": "Running",
                       "conditions": [{"type": "Ready", "status": if ready {"True"} else {"False"}}]},
        }))
        .expect("pod")
    }

    fn pdb(spec: serde_json::Value) -> PodDisruptionBudget {
        let mut spec = spec;
        spec["selector"] = json!({"matchLabels": {"app": "web"}});
        serde_json::from_value(
            json!({"metadata": {"name": "web", "namespace": "default"}, "spec": spec}),
        )
        .expect("pdb")
    }

    #[test]
    fn budgets_count_healthy_pods_against_what_must_stay() {
        let pods = [pod("a", true), pod("b", true), pod("c", false)];
        let b = budget(&pdb(json!({"minAvailable": 2})), &pods);
        assert_eq!(
            (
                b.expected_pods,
                b.current_healthy,
                b.desired_healthy,
                b.disruptions_allowed
            ),
            (3, 2, 2, 0)
        );
        let b = budget(&pdb(json!({"minAvailable": "50%"})), &pods);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (2, 0));
        let b = budget(&pdb(json!({"maxUnavailable": 2})), &pods);
        assert_eq!((b.desired_healthy, b.disruptions_allowed), (1, 1));
        let b = budget(&pdb(json!({"maxUnavailable": "34%"})), &pods);
        assert_eq!(b.desired_healthy, 1, "34% of 3 rounds up to 2 unavailable");
    }

    #[test]
    fn an_eviction_goes_through_only_while_the_budget_allows() {
        let pods = [pod("a", true), pod("b", true), pod("c", false)];
        let tight = [pdb(json!({"minAvailable": 2}))];
        assert_eq!(
            eviction(&pods[0], &tight, &pods),
            Verdict::Refused {
                cause: "The disruption budget web needs 2 healthy pods and has 2 currently".into()
            }
        );
        // The unready pod may go: the budget is met without it.
        assert_eq!(eviction(&pods[2], &tight, &pods), Verdict::Allowed);
        let loose = [pdb(json!({"minAvailable": 1}))];
        assert_eq!(eviction(&pods[0], &loose, &pods), Verdict::Allowed);
        assert_eq!(eviction(&pods[0], &[], &pods), Verdict::Allowed);
        let two = [loose[0].clone(), tight[0].clone()];
        assert_eq!(eviction(&pods[0], &two, &pods), Verdict::SeveralBudgets);
        let mut pending = pod("d", false);
        if let Some(s) = pending.status.as_mut() {
            s.phase = Some("Pending".into());
        }
        assert_eq!(eviction(&pending, &tight, &pods), Verdict::Allowed);
    }
}
