//! The StatefulSet controller: pods `NAME-0` .. `NAME-(N-1)` (from `ordinals.start` on when it
//! is given) with stable names and hostnames, made in order and each only once the one before is Running and Ready (`OrderedReady`), or all
//! at once (`Parallel`); removed from the highest ordinal down. Each claim template gives every
//! pod a claim of its own, `CLAIM-NAME-i`, as the controller names them.

use k8s_openapi::api::apps::v1::StatefulSetSpec;
use k8s_openapi::api::core::v1::{PersistentVolumeClaimVolumeSource, Volume};

use crate::naming::{pod_from_template, template_hash, Owner};
use crate::observed::{Action, OwnedPod, Phase};
use crate::replicas::Counts;

/// What one look at a StatefulSet decides, the pods' counts, and how many run the current
/// template.
pub fn manage(
    name: &str,
    namespace: &str,
    spec: &StatefulSetSpec,
    owner: &Owner,
    pods: &[OwnedPod],
) -> (Vec<Action>, Counts, i32) {
    let replicas = spec.replicas.unwrap_or(1).max(0);
    let revision = format!("{name}-{}", template_hash(&spec.template));
    let updated = pods
        .iter()
        .filter(|p| p.is_active() && p.revision.as_deref() == Some(revision.as_str()))
        .count() as i32;
    let parallel = spec.pod_management_policy.as_deref() == Some("Parallel");
    let ordinal = |p: &OwnedPod| -> Option<i32> {
        p.name.strip_prefix(name)?.strip_prefix('-')?.parse().ok()
    };
    // Replica `i` is the pod of ordinal `start + i`; the partition counts replicas, not ordinals.
    let start = spec
        .ordinals
        .as_ref()
        .and_then(|o| o.start)
        .unwrap_or(0)
        .max(0);
    let at = |i: i32| pods.iter().find(|p| ordinal(p) == Some(start + i));
    let counts = Counts {
        replicas: pods.iter().filter(|p| p.is_active()).count() as i32,
        ready: pods.iter().filter(|p| p.is_active() && p.ready).count() as i32,
        available: pods.iter().filter(|p| p.is_active() && p.ready).count() as i32,
    };
    let mut actions = Vec::new();
    for i in 0..replicas {
        match at(i) {
            None => {
                actions.push(Action::Create(Box::new(pod(
                    name,
                    namespace,
                    spec,
                    owner,
                    start + i,
                ))));
                if !parallel {
                    return (actions, counts, updated);
                }
            }
            // A finished pod is deleted and made again under the same name.
            Some(p) if p.phase.is_terminal() && !p.deleting => {
                actions.push(Action::Delete(p.name.clone()));
                if !parallel {
                    return (actions, counts, updated);
                }
            }
            Some(p) if !parallel && (p.deleting || p.phase != Phase::Running || !p.ready) => {
                return (actions, counts, updated);
            }
            Some(_) => {}
        }
    }
    // The surplus, highest ordinal first; in order, one at a time.
    let mut condemned: Vec<&OwnedPod> = pods
        .iter()
        .filter(|p| ordinal(p).is_none_or(|o| o < start || o >= start + replicas))
        .collect();
    condemned.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
    for p in condemned {
        if p.deleting {
            if parallel {
                continue;
            }
            break;
        }
        actions.push(Action::Delete(p.name.clone()));
        if !parallel {
            break;
        }
    }
    // A changed template rolls out (`RollingUpdate`, the default): once every pod is Running and
    // Ready, the highest ordinal at or above the partition still on an old revision is deleted
    // and made again from the new template, one at a time. `OnDelete` waits for the user to
    // delete pods.
    let strategy = spec.update_strategy.as_ref();
    let rolling = strategy.and_then(|u| u.type_.as_deref()) != Some("OnDelete");
    let settled = (0..replicas)
        .all(|i| at(i).is_some_and(|p| !p.deleting && p.phase == Phase::Running && p.ready));
    if rolling && actions.is_empty() && settled {
        let partition = strategy
            .and_then(|u| u.rolling_update.as_ref())
            .and_then(|r| r.partition)
            .unwrap_or(0)
            .max(0);
        let stale = (partition..replicas)
            .rev()
            .filter_map(at)
            .find(|p| p.revision.as_deref() != Some(revision.as_str()));
        if let Some(p) = stale {
            actions.push(Action::Delete(p.name.clone()));
        }
    }
    (actions, counts, updated)
}

/// Pod `NAME-i`: its hostname, the governing Service's subdomain, the labels the controller
/// sets, and a claim per claim template.
fn pod(
    name: &str,
    namespace: &str,
    spec: &StatefulSetSpec,
    owner: &Owner,
    i: i32,
) -> k8s_openapi::api::core::v1::Pod {
    let pod_name = format!("{name}-{i}");
    let revision = format!("{name}-{}", template_hash(&spec.template));
    let mut pod = pod_from_template(
        &spec.template,
        &pod_name,
        namespace,
        &[
            ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
            ("apps.kubernetes.io/pod-index", i.to_string()),
            (crate::naming::REVISION_LABEL, revision),
        ],
        owner,
    );
    let ps = pod.spec.get_or_insert_with(Default::default);
    ps.hostname = Some(pod_name.clone());
    if let Some(service) = spec.service_name.as_deref().filter(|s| !s.is_empty()) {
        ps.subdomain = Some(service.to_string());
    }
    for claim in spec.volume_claim_templates.iter().flatten() {
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        let volumes = ps.volumes.get_or_insert_with(Vec::new);
        volumes.retain(|v| v.name != claim_name);
        volumes.push(Volume {
            name: claim_name.clone(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource {
                claim_name: format!("{claim_name}-{pod_name}"),
                read_only: None,
            }),
            ..Default::default()
        });
    }
    pod
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replicas::tests::pod as owned;
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;

    fn spec(replicas: i32, policy: &str) -> StatefulSetSpec {
        StatefulSetSpec {
            replicas: Some(replicas),
            pod_management_policy: Some(policy.into()),
            service_name: Some("db".into()),
            volume_claim_templates: Some(vec![PersistentVolumeClaim {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some("data".into()),
                    ..Default::default()
                },
                ..Default::default()
            }]),
            ..Default::default()
        }
    }

    fn owner() -> Owner {
        Owner {
            api_version: "apps/v1".into(),
            kind: "StatefulSet".into(),
            name: "db".into(),
            uid: "u".into(),
        }
    }

    fn names(actions: &[Action]) -> Vec<String> {
        actions
            .iter()
            .map(|a| match a {
                Action::Create(p) => format!("+{}", p.metadata.name.clone().unwrap_or_default()),
                Action::Delete(n) => format!("-{n}"),
            })
            .collect()
    }

    #[test]
    fn ordered_ready_makes_one_pod_after_the_other_is_ready() {
        let s = spec(3, "OrderedReady");
        let run = |pods: &[OwnedPod]| names(&manage("db", "default", &s, &owner(), pods).0);
        assert_eq!(run(&[]), ["+db-0"]);
        assert_eq!(
            run(&[owned("db-0", Phase::Running, false, 1)]),
            Vec::<String>::new()
        );
        assert_eq!(run(&[owned("db-0", Phase::Running, true, 1)]), ["+db-1"]);
        // A failed pod is deleted, then made again under its name.
        let failed = [
            owned("db-0", Phase::Failed, false, 1),
            owned("db-1", Phase::Running, true, 1),
        ];
        assert_eq!(run(&failed), ["-db-0"]);
        let (actions, _, _) = manage("db", "default", &s, &owner(), &[]);
        let Action::Create(p) = &actions[0] else {
            panic!("no pod");
        };
        let ps = p.spec.as_ref().expect("spec");
        assert_eq!(ps.hostname.as_deref(), Some("db-0"));
        assert_eq!(ps.subdomain.as_deref(), Some("db"));
        let v = &ps.volumes.as_ref().expect("volumes")[0];
        assert_eq!(
            v.persistent_volume_claim
                .as_ref()
                .map(|c| c.claim_name.as_str()),
            Some("data-db-0")
        );
    }

    #[test]
    fn ordinals_start_where_the_spec_says_and_pods_outside_them_go() {
        let mut s = spec(2, "OrderedReady");
        s.ordinals = Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(5) });
        let run = |s: &StatefulSetSpec, pods: &[OwnedPod]| {
            names(&manage("db", "default", s, &owner(), pods).0)
        };
        assert_eq!(run(&s, &[]), ["+db-5"]);
        assert_eq!(
            run(&s, &[owned("db-5", Phase::Running, true, 1)]),
            ["+db-6"]
        );
        let (actions, _, _) = manage("db", "default", &s, &owner(), &[]);
        let Action::Create(p) = &actions[0] else {
            panic!("no pod");
        };
        let labels = p.metadata.labels.clone().unwrap_or_default();
        assert_eq!(
            labels
                .get("apps.kubernetes.io/pod-index")
                .map(String::as_str),
            Some("5")
        );
        // The start moved up: the pod below it goes, as one above the end would.
        s.ordinals = Some(k8s_openapi::api::apps::v1::StatefulSetOrdinals { start: Some(6) });
        let pods = [
            owned("db-5", Phase::Running, true, 1),
            owned("db-6", Phase::Running, true, 1),
            owned("db-7", Phase::Running, true, 1),
        ];
        assert_eq!(run(&s, &pods), ["-db-5"]);
    }

    #[test]
    fn a_changed_template_rolls_out_from_the_highest_ordinal_down_to_the_partition() {
        let mut s = spec(3, "OrderedReady");
        let old = |n: &str| OwnedPod {
            revision: Some("db-old".into()),
            ..owned(n, Phase::Running, true, 1)
        };
        let pods = [old("db-0"), old("db-1"), old("db-2")];
        assert_eq!(
            names(&manage("db", "default", &s, &owner(), &pods).0),
            ["-db-2"]
        );
        // Not while a pod is not ready.
        let mut waiting = pods.clone();
        waiting[0].ready = false;
        assert!(manage("db", "default", &s, &owner(), &waiting).0.is_empty());
        // The partition keeps the lower ordinals on the old revision.
        let current = format!("db-{}", template_hash(&s.template));
        let new = |n: &str| OwnedPod {
            revision: Some(current.clone()),
            ..owned(n, Phase::Running, true, 1)
        };
        s.update_strategy = Some(k8s_openapi::api::apps::v1::StatefulSetUpdateStrategy {
            type_: Some("RollingUpdate".into()),
            rolling_update: Some(
                k8s_openapi::api::apps::v1::RollingUpdateStatefulSetStrategy {
                    partition: Some(1),
                    max_unavailable: None,
                },
            ),
        });
        let partly = [old("db-0"), old("db-1"), new("db-2")];
        let (actions, _, updated) = manage("db", "default", &s, &owner(), &partly);
        assert_eq!((names(&actions), updated), (vec!["-db-1".to_string()], 1));
        let done = [old("db-0"), new("db-1"), new("db-2")];
        assert!(manage("db", "default", &s, &owner(), &done).0.is_empty());
    }

    #[test]
    fn scaling_down_removes_the_highest_ordinal_first() {
        let all = [
            owned("db-0", Phase::Running, true, 1),
            owned("db-1", Phase::Running, true, 1),
            owned("db-2", Phase::Running, true, 1),
        ];
        let s = spec(1, "OrderedReady");
        assert_eq!(
            names(&manage("db", "default", &s, &owner(), &all).0),
            ["-db-2"]
        );
        let s = spec(1, "Parallel");
        assert_eq!(
            names(&manage("db", "default", &s, &owner(), &all).0),
            ["-db-2", "-db-1"]
        );
        let s = spec(3, "Parallel");
        assert_eq!(
            names(&manage("db", "default", &s, &owner(), &[]).0),
            ["+db-0", "+db-1", "+db-2"]
        );
    }
}
