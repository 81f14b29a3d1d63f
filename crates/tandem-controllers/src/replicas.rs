//! Keeping a number of identical pods: the ReplicaSet controller's `manageReplicas` (create the
//! missing, delete the surplus in its order), shared by ReplicaSets, ReplicationControllers,
//! Deployments (through the ReplicaSet of their template) and DaemonSets (one pod: this is one
//! node).

use std::cmp::Reverse;

use k8s_openapi::api::core::v1::PodTemplateSpec;

use crate::naming::{generated_name, pod_from_template, Owner};
use crate::observed::{Action, OwnedPod, Phase};

/// How many pods, made from what, named and labelled how.
pub struct Replicas<'a> {
    pub replicas: i32,
    pub template: &'a PodTemplateSpec,
    pub namespace: &'a str,
    /// `generateName` of the pods (`web-7d4b9c8f5-`).
    pub name_base: String,
    /// Labels the controller adds to the template's.
    pub labels: Vec<(&'static str, String)>,
    pub owner: Owner,
    pub min_ready_seconds: i32,
}

/// The pods' counts as the status reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Counts {
    /// Active pods.
    pub replicas: i32,
    pub ready: i32,
    pub available: i32,
}

/// Creates the missing pods and deletes the surplus (the ReplicaSet controller's order: pending
/// before running, not ready before ready, ready for less time first, more restarts first,
/// newest first). Finished pods are neither counted nor deleted: they stay to be looked at,
/// as on a cluster, until their owner goes.
pub fn manage(
    r: &Replicas<'_>,
    pods: &[OwnedPod],
    now_us: i64,
    random: &mut dyn FnMut() -> u32,
) -> (Vec<Action>, Counts) {
    let mut active: Vec<&OwnedPod> = pods.iter().filter(|p| p.is_active()).collect();
    let counts = Counts {
        replicas: active.len() as i32,
        ready: active.iter().filter(|p| p.ready).count() as i32,
        available: active
            .iter()
            .filter(|p| p.is_available(r.min_ready_seconds, now_us))
            .count() as i32,
    };
    let want = r.replicas.max(0) as usize;
    let mut actions = Vec::new();
    if active.len() < want {
        let taken: Vec<&str> = pods.iter().map(|p| p.name.as_str()).collect();
        for _ in active.len()..want {
            let name = loop {
                let n = generated_name(&r.name_base, random);
                if !taken.contains(&n.as_str()) {
                    break n;
                }
            };
            actions.push(Action::Create(Box::new(pod_from_template(
                r.template,
                &name,
                r.namespace,
                &r.labels,
                &r.owner,
            ))));
        }
    } else if active.len() > want {
        active.sort_by_key(|p| deletion_rank(p));
        for p in &active[..active.len() - want] {
            actions.push(Action::Delete(p.name.clone()));
        }
    }
    (actions, counts)
}

/// Smaller goes first.
fn deletion_rank(p: &OwnedPod) -> (u8, bool, Reverse<i64>, Reverse<i32>, Reverse<i64>) {
    let phase = match p.phase {
        Phase::Pending => 0,
        Phase::Unknown => 1,
        _ => 2,
    };
    (
        phase,
        p.ready,
        Reverse(p.ready_since_us.unwrap_or(0)),
        Reverse(p.restarts),
        Reverse(p.created_us),
    )
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn pod(name: &str, phase: Phase, ready: bool, created: i64) -> OwnedPod {
        OwnedPod {
            name: name.into(),
            phase,
            ready,
            ready_since_us: ready.then_some(created + 1),
            created_us: created,
            finished_us: None,
            deleting: false,
            index: None,
            restarts: 0,
            exits: vec![],
            conditions: vec![],
            revision: None,
            owner_uid: String::new(),
        }
    }

    fn replicas(n: i32, template: &PodTemplateSpec) -> Replicas<'_> {
        Replicas {
            replicas: n,
            template,
            namespace: "default",
            name_base: "web-abc-".into(),
            labels: vec![("pod-template-hash", "abc".into())],
            owner: Owner {
                api_version: "apps/v1".into(),
                kind: "ReplicaSet".into(),
                name: "web-abc".into(),
                uid: "u".into(),
            },
            min_ready_seconds: 0,
        }
    }

    #[test]
    fn missing_pods_are_made_and_finished_ones_replaced() {
        let t = PodTemplateSpec::default();
        let pods = [
            pod("web-abc-bbbbb", Phase::Running, true, 1),
            pod("web-abc-ccccc", Phase::Failed, false, 2),
        ];
        let mut n = 0;
        let (actions, counts) = manage(&replicas(3, &t), &pods, 10, &mut || {
            n += 1;
            n
        });
        assert_eq!(
            counts,
            Counts {
                replicas: 1,
                ready: 1,
                available: 1
            }
        );
        let made: Vec<String> = actions
            .iter()
            .map(|a| match a {
                Action::Create(p) => {
                    let labels = p.metadata.labels.clone().unwrap_or_default();
                    assert_eq!(
                        labels.get("pod-template-hash").map(String::as_str),
                        Some("abc")
                    );
                    let owner = &p.metadata.owner_references.as_ref().expect("owned")[0];
                    assert_eq!(
                        (owner.kind.as_str(), owner.controller),
                        ("ReplicaSet", Some(true))
                    );
                    p.metadata.name.clone().unwrap_or_default()
                }
                Action::Delete(n) => panic!("deleted {n}"),
            })
            .collect();
        assert_eq!(made.len(), 2);
        assert!(
            made.iter()
                .all(|m| m.starts_with("web-abc-") && m.len() == 13),
            "{made:?}"
        );
    }

    #[test]
    fn surplus_goes_in_the_replicaset_controllers_order() {
        let t = PodTemplateSpec::default();
        let mut restarted = pod("restarted", Phase::Running, true, 5);
        restarted.restarts = 3;
        restarted.ready_since_us = Some(2);
        let mut old_ready = pod("old-ready", Phase::Running, true, 1);
        old_ready.ready_since_us = Some(2);
        let pods = [
            old_ready,
            restarted,
            pod("not-ready", Phase::Running, false, 3),
            pod("pending", Phase::Pending, false, 2),
            pod("newer-ready", Phase::Running, true, 9),
        ];
        let order = |n: i32| -> Vec<String> {
            manage(&replicas(n, &t), &pods, 100, &mut || 0)
                .0
                .into_iter()
                .map(|a| match a {
                    Action::Delete(n) => n,
                    Action::Create(_) => panic!("created"),
                })
                .collect()
        };
        assert_eq!(order(4), ["pending"]);
        assert_eq!(
            order(0),
            [
                "pending",
                "not-ready",
                "newer-ready",
                "restarted",
                "old-ready"
            ]
        );
    }
}
