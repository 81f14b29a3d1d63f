//! The Deployment controller: one ReplicaSet per template (`NAME-HASH`, with the revision it was
//! last rolled out at), the new one scaled up and the old ones down as the strategy allows —
//! `RollingUpdate` within `maxSurge` above and `maxUnavailable` below `replicas`, counting only
//! pods available for `minReadySeconds`; `Recreate` only once every old pod is gone.
//! Upstream: `pkg/controller/deployment/rolling.go`, `recreate.go`, `sync.go`.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, ReplicaSetSpec, ReplicaSetStatus};
use k8s_openapi::api::core::v1::PodTemplateSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::naming::{derived_uid, template_hash, Owner, POD_TEMPLATE_HASH};
use crate::observed::{Action, OwnedPod};
use crate::replicas::{self, Counts, Replicas};

/// The annotation with the revision a ReplicaSet's template was rolled out at.
pub const REVISION: &str = "deployment.kubernetes.io/revision";

/// The template a Deployment's ReplicaSet runs: the Deployment's with its hash as a label.
pub fn template_of(d: &Deployment) -> (String, PodTemplateSpec) {
    let hash = template_hash(&d.spec.template);
    let mut t = d.spec.template.clone();
    t.metadata
        .get_or_insert_with(Default::default)
        .labels
        .get_or_insert_with(BTreeMap::new)
        .insert(POD_TEMPLATE_HASH.into(), hash.clone());
    (hash, t)
}

pub fn revision(rs: &ReplicaSet) -> i64 {
    rs.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(REVISION))
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn hash_of(rs: &ReplicaSet) -> Option<&str> {
    rs.metadata
        .labels
        .as_ref()?
        .get(POD_TEMPLATE_HASH)
        .map(String::as_str)
}

fn desired(rs: &ReplicaSet) -> i32 {
    rs.spec.replicas.unwrap_or(0)
}

fn set_desired(rs: &mut ReplicaSet, n: i32) {
    rs.spec.replicas = Some(n.max(0));
}

/// An int-or-percent of `total`: percentages round up for surge, down for unavailability.
pub(crate) fn resolve(v: Option<&IntOrString>, total: i32, round_up: bool) -> i32 {
    match v {
        Some(IntOrString::Int(n)) => *n,
        Some(IntOrString::String(p)) => {
            let pct: i64 = p.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = i64::from(total) * pct;
            (if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            }) as i32
        }
        None => 0,
    }
    .max(0)
}

/// `maxSurge` and `maxUnavailable` as pod counts; both 0 would stall, so unavailability is
/// then 1, as the controller resolves them.
pub fn surge_and_unavailable(d: &Deployment, replicas: i32) -> (i32, i32) {
    let ru = d
        .spec
        .strategy
        .as_ref()
        .and_then(|s| s.rolling_update.as_ref());
    let surge = resolve(ru.and_then(|r| r.max_surge.as_ref()), replicas, true);
    let unavailable =
        resolve(ru.and_then(|r| r.max_unavailable.as_ref()), replicas, false).min(replicas.max(0));
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// One look at a Deployment.
pub struct Rollout {
    pub actions: Vec<Action>,
    /// Every ReplicaSet of the Deployment, the new one first, with the replicas wanted of each
    /// and its pods' counts.
    pub replica_sets: Vec<ReplicaSet>,
    /// The new ReplicaSet's counts, and all pods'.
    pub updated: Counts,
    pub total: Counts,
    pub new_name: String,
}

/// Scales the ReplicaSets as the strategy allows, then keeps each one's pods.
pub fn manage(
    d: &Deployment,
    previous: &[ReplicaSet],
    pods: &[OwnedPod],
    now_us: i64,
    random: &mut dyn FnMut() -> u32,
) -> Rollout {
    let name = d.metadata.name.clone().unwrap_or_default();
    let namespace = d
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".into());
    let uid = d.metadata.uid.clone().unwrap_or_default();
    let replicas = d.spec.replicas.unwrap_or(1).max(0);
    let min_ready = d.spec.min_ready_seconds.unwrap_or(0);
    let (hash, template) = template_of(d);
    let counts_of = |rs: &ReplicaSet| -> Counts {
        let uid = rs.metadata.uid.as_deref().unwrap_or_default();
        let mine: Vec<&OwnedPod> = pods
            .iter()
            .filter(|p| p.owner_uid == uid && p.is_active())
            .collect();
        Counts {
            replicas: mine.len() as i32,
            ready: mine.iter().filter(|p| p.ready).count() as i32,
            available: mine
                .iter()
                .filter(|p| p.is_available(min_ready, now_us))
                .count() as i32,
        }
    };
    // Paused (`sync`, not `rolloutRolling`): no ReplicaSet is made for a new template and none
    // is scaled toward it; a changed `replicas` goes to the newest ReplicaSet that has pods.
    if d.spec.paused == Some(true) {
        let mut all: Vec<ReplicaSet> = previous.to_vec();
        all.sort_by_key(|rs| std::cmp::Reverse(revision(rs)));
        let current = all.iter().position(|rs| hash_of(rs) == Some(hash.as_str()));
        if let Some(i) = current {
            let rs = all.remove(i);
            all.insert(0, rs);
        }
        let mut more = replicas - all.iter().map(desired).sum::<i32>();
        let order: Vec<usize> = (0..all.len())
            .filter(|i| desired(&all[*i]) > 0)
            .chain(0..all.len())
            .collect();
        for i in order {
            if more == 0 {
                break;
            }
            let d = desired(&all[i]);
            let to = (d + more).max(0);
            more -= to - d;
            set_desired(&mut all[i], to);
        }
        return keep(d, &namespace, all, current.is_some(), pods, now_us, random);
    }
    let top_revision = previous.iter().map(revision).max().unwrap_or(0);
    let mut old: Vec<ReplicaSet> = previous
        .iter()
        .filter(|rs| hash_of(rs) != Some(hash.as_str()))
        .cloned()
        .collect();
    old.sort_by_key(revision);
    let mut new = match previous
        .iter()
        .find(|rs| hash_of(rs) == Some(hash.as_str()))
    {
        Some(rs) => rs.clone(),
        None => new_replica_set(d, &name, &namespace, &uid, &hash, &template, now_us),
    };
    // The template being rolled out is the latest revision (an undo takes an old one back up).
    if revision(&new) < top_revision || revision(&new) == 0 {
        new.metadata
            .annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(REVISION.into(), (top_revision + 1).to_string());
    }
    let old_pods: i32 = old.iter().map(|rs| counts_of(rs).replicas).sum();
    let recreate = d.spec.strategy.as_ref().and_then(|s| s.type_.as_deref()) == Some("Recreate");
    if recreate {
        for rs in &mut old {
            set_desired(rs, 0);
        }
        // Every old pod gone (even those still terminating) before a new one starts.
        let old_left = old.iter().any(|rs| {
            let uid = rs.metadata.uid.as_deref().unwrap_or_default();
            pods.iter()
                .any(|p| p.owner_uid == uid && !p.phase.is_terminal())
        });
        set_desired(&mut new, if old_left { 0 } else { replicas });
    } else if old_pods == 0 && old.iter().all(|rs| desired(rs) == 0) {
        set_desired(&mut new, replicas);
    } else {
        let (surge, max_unavailable) = surge_and_unavailable(d, replicas);
        // Scale the new ReplicaSet up within the surge.
        let total_desired: i32 = desired(&new) + old.iter().map(desired).sum::<i32>();
        let new_desired = desired(&new);
        if new_desired > replicas {
            set_desired(&mut new, replicas);
        } else if new_desired < replicas {
            let room = (replicas + surge - total_desired).max(0);
            set_desired(&mut new, new_desired + room.min(replicas - new_desired));
        }
        // Scale the old ones down within the availability budget: unhealthy pods first, then
        // available ones down to `replicas - maxUnavailable` available in all.
        let min_available = replicas - max_unavailable;
        let new_counts = counts_of(&new);
        let all_desired: i32 = desired(&new) + old.iter().map(desired).sum::<i32>();
        let new_unavailable = desired(&new) - new_counts.available;
        let mut budget = all_desired - min_available - new_unavailable;
        for rs in &mut old {
            if budget <= 0 {
                break;
            }
            let unhealthy = (desired(rs) - counts_of(rs).available).max(0);
            let cut = unhealthy.min(budget);
            let d = desired(rs);
            set_desired(rs, d - cut);
            budget -= cut;
        }
        let available: i32 = new_counts.available
            + old
                .iter()
                .map(|rs| counts_of(rs).available.min(desired(rs)))
                .sum::<i32>();
        let mut down = (available - min_available).min(budget.max(0)).max(0);
        for rs in &mut old {
            if down <= 0 {
                break;
            }
            let cut = desired(rs).min(down);
            let d = desired(rs);
            set_desired(rs, d - cut);
            down -= cut;
        }
    }
    let mut all = vec![new];
    all.extend(old.into_iter().rev());
    keep(d, &namespace, all, true, pods, now_us, random)
}

/// Each ReplicaSet keeps its pods as it is told; `all` has the one of the current template
/// first when `has_new`. Old ones without pods beyond `revisionHistoryLimit` go.
fn keep(
    d: &Deployment,
    namespace: &str,
    mut all: Vec<ReplicaSet>,
    has_new: bool,
    pods: &[OwnedPod],
    now_us: i64,
    random: &mut dyn FnMut() -> u32,
) -> Rollout {
    let min_ready = d.spec.min_ready_seconds.unwrap_or(0);
    let mut actions = Vec::new();
    let mut total = Counts::default();
    let mut updated = Counts::default();
    for (i, rs) in all.iter_mut().enumerate() {
        let rs_name = rs.metadata.name.clone().unwrap_or_default();
        let owner = Owner {
            api_version: "apps/v1".into(),
            kind: "ReplicaSet".into(),
            name: rs_name.clone(),
            uid: rs.metadata.uid.clone().unwrap_or_default(),
        };
        let rs_template = rs.spec.template.clone().unwrap_or_default();
        let mine: Vec<OwnedPod> = pods
            .iter()
            .filter(|p| p.owner_uid == owner.uid)
            .cloned()
            .collect();
        let (acts, c) = replicas::manage(
            &Replicas {
                replicas: desired(rs),
                template: &rs_template,
                namespace,
                name_base: format!("{rs_name}-"),
                labels: vec![],
                owner,
                min_ready_seconds: min_ready,
            },
            &mine,
            now_us,
            random,
        );
        actions.extend(acts);
        rs.status = Some(ReplicaSetStatus {
            replicas: c.replicas,
            fully_labeled_replicas: Some(c.replicas),
            ready_replicas: Some(c.ready),
            available_replicas: Some(c.available),
            observed_generation: Some(1),
            ..Default::default()
        });
        total.replicas += c.replicas;
        total.ready += c.ready;
        total.available += c.available;
        if has_new && i == 0 {
            updated = c;
        }
    }
    // History: old ReplicaSets with no pods beyond revisionHistoryLimit go, oldest first.
    let limit = d.spec.revision_history_limit.unwrap_or(10).max(0) as usize;
    let idle: Vec<String> = all[usize::from(has_new).min(all.len())..]
        .iter()
        .rev()
        .filter(|rs| desired(rs) == 0 && rs.status.as_ref().is_some_and(|s| s.replicas == 0))
        .filter_map(|rs| rs.metadata.name.clone())
        .collect();
    if idle.len() > limit {
        let drop: Vec<String> = idle[..idle.len() - limit].to_vec();
        all.retain(|rs| rs.metadata.name.as_ref().is_none_or(|n| !drop.contains(n)));
    }
    // No ReplicaSet of the current template (a paused Deployment's new template): none named.
    let new_name = match has_new {
        true => all[0].metadata.name.clone().unwrap_or_default(),
        false => String::new(),
    };
    Rollout {
        actions,
        replica_sets: all,
        updated,
        total,
        new_name,
    }
}

fn new_replica_set(
    d: &Deployment,
    name: &str,
    namespace: &str,
    uid: &str,
    hash: &str,
    template: &PodTemplateSpec,
    now_us: i64,
) -> ReplicaSet {
    let rs_name = format!("{name}-{hash}");
    let labels = template
        .metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default();
    let created = k8s_openapi::jiff::Timestamp::from_microsecond(now_us)
        .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH);
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(rs_name.clone()),
            namespace: Some(namespace.into()),
            uid: Some(derived_uid(uid, &rs_name)),
            labels: Some(labels),
            creation_timestamp: Some(Time(created)),
            owner_references: Some(vec![Owner {
                api_version: "apps/v1".into(),
                kind: "Deployment".into(),
                name: name.into(),
                uid: uid.into(),
            }
            .reference()]),
            ..Default::default()
        },
        spec: ReplicaSetSpec {
            replicas: Some(0),
            min_ready_seconds: d.spec.min_ready_seconds,
            selector: {
                let mut s = d.spec.selector.clone();
                s.match_labels
                    .get_or_insert_with(BTreeMap::new)
                    .insert(POD_TEMPLATE_HASH.into(), hash.into());
                s
            },
            template: Some(template.clone()),
        },
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observed::Phase;

    fn deployment(image: &str, replicas: i32, surge: &str, unavailable: &str) -> Deployment {
        let yaml = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: web}}\nspec:\n  replicas: {replicas}\n  strategy: {{rollingUpdate: {{maxSurge: {surge}, maxUnavailable: {unavailable}}}}}\n  selector: {{matchLabels: {{app: web}}}}\n  template:\n    metadata: {{labels: {{app: web}}}}\n    spec: {{containers: [{{name: a, image: {image}}}]}}\n"
        );
        let l = tandem_api::load(
            &[tandem_api::Source::new("d.yaml", yaml)],
            &tandem_api::PlanOptions {
                uid: Some("d-uid".into()),
                ..Default::default()
            },
        )
        .expect("loads");
        match l.workloads[0].object.clone() {
            tandem_api::Workload::Deployment(d) => d,
            _ => panic!("not a deployment"),
        }
    }

    /// Runs the controller against a world where created pods exist at once and become
    /// available after `ready_after` looks, deleted pods vanish at once; returns the fewest
    /// available pods seen during the rollout and the most pods at once.
    fn simulate(
        d1: &Deployment,
        d2: &Deployment,
        ready_after: u32,
    ) -> (i32, usize, Vec<ReplicaSet>) {
        let mut rs: Vec<ReplicaSet> = Vec::new();
        let mut pods: Vec<(OwnedPod, u32)> = Vec::new();
        let mut n = 0u32;
        let mut random = move || {
            n += 1;
            n
        };
        let mut step =
            |d: &Deployment, rs: &mut Vec<ReplicaSet>, pods: &mut Vec<(OwnedPod, u32)>| {
                let observed: Vec<OwnedPod> = pods.iter().map(|(p, _)| p.clone()).collect();
                let r = manage(d, rs, &observed, 0, &mut random);
                for a in r.actions {
                    match a {
                        Action::Create(p) => pods.push((
                            OwnedPod {
                                name: p.metadata.name.clone().unwrap_or_default(),
                                phase: Phase::Running,
                                ready: false,
                                ready_since_us: None,
                                created_us: 0,
                                finished_us: None,
                                deleting: false,
                                index: None,
                                restarts: 0,
                                exits: vec![],
                                conditions: vec![],
                                revision: None,
                                owner_uid: p.metadata.owner_references.as_ref().expect("owned")[0]
                                    .uid
                                    .clone(),
                            },
                            0,
                        )),
                        Action::Delete(name) => pods.retain(|(p, _)| p.name != name),
                    }
                }
                for (p, age) in pods.iter_mut() {
                    *age += 1;
                    if *age > ready_after {
                        p.ready = true;
                        p.ready_since_us = Some(0);
                    }
                }
                *rs = r.replica_sets;
            };
        for _ in 0..10 {
            step(d1, &mut rs, &mut pods);
        }
        assert_eq!(pods.iter().filter(|(p, _)| p.ready).count(), 3);
        let mut fewest = i32::MAX;
        let mut most = 0;
        for _ in 0..60 {
            step(d2, &mut rs, &mut pods);
            fewest = fewest.min(pods.iter().filter(|(p, _)| p.ready).count() as i32);
            most = most.max(pods.len());
        }
        let (new_hash, _) = template_of(d2);
        assert!(
            pods.iter()
                .all(|(p, _)| p.name.starts_with(&format!("web-{new_hash}-")) && p.ready),
            "rollout finished with {pods:?}"
        );
        assert_eq!(pods.len(), 3);
        (fewest, most, rs)
    }

    #[test]
    fn a_rolling_update_stays_within_its_surge_and_availability_budget() {
        // maxSurge 1, maxUnavailable 0: never fewer than 3 available, never more than 4 pods.
        let (fewest, most, rs) = simulate(
            &deployment("a:1", 3, "1", "0"),
            &deployment("a:2", 3, "1", "0"),
            2,
        );
        assert_eq!((fewest, most), (3, 4));
        assert_eq!(rs.len(), 2);
        assert_eq!(revision(&rs[0]), 2);
        assert_eq!(revision(&rs[1]), 1);
        assert_eq!(rs[1].spec.replicas, Some(0));
        // maxSurge 0, maxUnavailable 1: never below 2 available, never above 3 pods.
        let (fewest, most, _) = simulate(
            &deployment("a:1", 3, "0", "1"),
            &deployment("a:2", 3, "0", "1"),
            2,
        );
        assert!(fewest >= 2 && most <= 3, "{fewest} {most}");
        // The defaults (25 % each of 3: surge 1, unavailable 0).
        let (fewest, most, _) = simulate(
            &deployment("a:1", 3, "25%", "25%"),
            &deployment("a:2", 3, "25%", "25%"),
            1,
        );
        assert!(fewest >= 3 && most <= 4, "{fewest} {most}");
    }

    #[test]
    fn an_undo_takes_the_old_replicaset_back_at_a_new_revision() {
        let d1 = deployment("a:1", 3, "1", "0");
        let d2 = deployment("a:2", 3, "1", "0");
        let (_, _, rs) = simulate(&d1, &d2, 1);
        let (hash1, _) = template_of(&d1);
        let back = manage(&d1, &rs, &[], 0, &mut || 0);
        assert_eq!(hash_of(&back.replica_sets[0]), Some(hash1.as_str()));
        assert_eq!(revision(&back.replica_sets[0]), 3);
    }
}
