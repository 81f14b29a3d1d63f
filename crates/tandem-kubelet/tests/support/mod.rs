//! Plans written as the kubelet's tests write their pods: a restart policy, a grace period and
//! containers listed as `init:NAME`, `sidecar:NAME` or `NAME` (main), in declaration order.

#![allow(dead_code)]

pub mod fake;

use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan, RestartPolicy};

pub fn container(name: &str, role: ContainerRole) -> ContainerPlan {
    ContainerPlan::new(name, role, "busybox")
}

pub fn pod(policy: RestartPolicy, grace: i64, spec: &[&str]) -> PodPlan {
    let mut init = vec![];
    let mut main = vec![];
    for s in spec {
        match s.split_once(':') {
            Some(("init", n)) => init.push(container(n, ContainerRole::Init)),
            Some(("sidecar", n)) => init.push(container(n, ContainerRole::Sidecar)),
            _ => main.push(container(s, ContainerRole::Main)),
        }
    }
    let mut plan = PodPlan::new("p", init, main);
    plan.uid = "u".into();
    plan.node_name = "n".into();
    plan.restart_policy = policy;
    plan.termination_grace_period_seconds = grace;
    plan
}
