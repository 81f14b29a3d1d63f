//! The pod's own resource envelope, as the kubelet sizes the pod cgroup (KEP-753 for sidecars).
//!
//! A pod needs, at its peak, the larger of two moments: initialization, where each regular init
//! container runs beside the sidecars declared before it, and the steady state, where every
//! sidecar runs beside every main container. Requests and limits are each summed that way, per
//! resource. Pure data in, data out; the supervisor writes the result into cgroup files.

use tandem_api::plan::{ContainerRole, PodPlan, ResourceList};

/// What the pod cgroup gets (the kubelet's `ResourceConfigForPod`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PodCgroupConfig {
    /// Only when every container declares a memory limit; otherwise the pod is unbounded.
    pub memory_limit_bytes: Option<u64>,
    /// CFS quota in µs per [`CPU_PERIOD_US`], only when every container declares a CPU limit.
    pub cpu_quota_us: Option<u64>,
    /// From the pod's CPU request (2, the kernel minimum, for a pod that requests none).
    pub cpu_shares: u64,
}

/// The CFS period the kubelet uses (100 ms).
pub const CPU_PERIOD_US: u64 = 100_000;

/// The kubelet's `MilliCPUToQuota`: N millicores are N × 100 µs per [`CPU_PERIOD_US`], and never
/// under 1 ms, which the kernel refuses (sched(7), cpu.cfs_quota_us).
pub fn milli_cpu_to_quota(millis: u64) -> u64 {
    (millis * CPU_PERIOD_US / 1000).max(1000)
}

/// The kubelet's `MilliCPUToShares`: 1024 shares per CPU, never below the kernel's minimum of 2.
pub fn milli_cpu_to_shares(millis: u64) -> u64 {
    (millis * 1024 / 1000).max(2)
}

/// The pod's effective requests (`PodRequests`): requests default to limits, as the API server
/// defaults them.
pub fn pod_requests(plan: &PodPlan) -> ResourceList {
    envelope(plan, |c| {
        let r = &c.resources;
        [
            r.requests.cpu_millis.or(r.limits.cpu_millis),
            r.requests.memory_bytes.or(r.limits.memory_bytes),
            r.requests
                .ephemeral_storage_bytes
                .or(r.limits.ephemeral_storage_bytes),
        ]
    })
}

/// The pod's effective limits (`PodLimits`): a resource is present when any container declares
/// it, which is what local-storage eviction reads; the pod cgroup only takes it when every
/// container does (see [`pod_cgroup`]).
pub fn pod_limits(plan: &PodPlan) -> ResourceList {
    envelope(plan, |c| {
        [
            c.resources.limits.cpu_millis,
            c.resources.limits.memory_bytes,
            c.resources.limits.ephemeral_storage_bytes,
        ]
    })
}

/// Pod-level resources (`spec.resources`, KEP-2837) take precedence, resource by resource, over
/// what the containers add up to; a pod-level request left out defaults to its limit.
pub fn pod_cgroup(plan: &PodPlan) -> PodCgroupConfig {
    let limits = pod_limits(plan);
    let all = |f: fn(&ResourceList) -> Option<u64>| {
        plan.sized_containers()
            .all(|c| f(&c.resources.limits).is_some_and(|v| v > 0))
    };
    let requests = pod_requests(plan);
    let pod = plan.resources.as_ref();
    let pod_limit = |f: fn(&ResourceList) -> Option<u64>| pod.and_then(|r| f(&r.limits));
    let pod_request =
        |f: fn(&ResourceList) -> Option<u64>| pod.and_then(|r| f(&r.requests).or(f(&r.limits)));
    let memory =
        pod_limit(|l| l.memory_bytes).or(limits.memory_bytes.filter(|_| all(|l| l.memory_bytes)));
    let cpu = pod_limit(|l| l.cpu_millis).or(limits.cpu_millis.filter(|_| all(|l| l.cpu_millis)));
    let cpu_request = pod_request(|l| l.cpu_millis).or(requests.cpu_millis);
    PodCgroupConfig {
        memory_limit_bytes: memory,
        cpu_quota_us: cpu.map(milli_cpu_to_quota),
        cpu_shares: milli_cpu_to_shares(cpu_request.unwrap_or(0)),
    }
}

/// KEP-753: max(each regular init container + the sidecars started before it,
/// all sidecars + all main containers), per resource ([cpu millis, memory bytes, ephemeral
/// storage bytes]).
fn envelope(
    plan: &PodPlan,
    of: impl Fn(&tandem_api::plan::ContainerPlan) -> [Option<u64>; 3],
) -> ResourceList {
    let mut out = [None::<u64>; 3];
    for (i, slot) in out.iter_mut().enumerate() {
        let get = |c| of(c)[i];
        let mut sidecars: Option<u64> = None;
        let mut init_peak: Option<u64> = None;
        for c in &plan.init_containers {
            let during = if c.role == ContainerRole::Sidecar {
                sidecars = add(sidecars, get(c));
                sidecars
            } else {
                add(get(c), sidecars)
            };
            init_peak = max(init_peak, during);
        }
        let steady = plan
            .containers
            .iter()
            .fold(sidecars, |acc, c| add(acc, get(c)));
        *slot = max(steady, init_peak);
    }
    ResourceList {
        cpu_millis: out[0],
        memory_bytes: out[1],
        ephemeral_storage_bytes: out[2],
        ephemeral_storage_quantity: None,
    }
}

fn add(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.saturating_add(b)),
        (a, b) => a.or(b),
    }
}

fn max(a: Option<u64>, b: Option<u64>) -> Option<u64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_api::plan::ContainerPlan;

    fn c(name: &str, role: ContainerRole, cpu: u64, mem_mi: u64) -> ContainerPlan {
        let mut c = ContainerPlan::new(name, role, "img");
        c.resources.limits.cpu_millis = Some(cpu);
        c.resources.limits.memory_bytes = Some(mem_mi << 20);
        c
    }

    fn plan(init: Vec<ContainerPlan>, main: Vec<ContainerPlan>) -> PodPlan {
        PodPlan::new("p", init, main)
    }

    #[test]
    fn sidecars_count_beside_main_containers_and_later_init_containers() {
        use ContainerRole::*;
        // Steady state: sidecars 100+200 + main 300 = 600 m, 60 Mi. Initialization peaks at the
        // init container that runs beside both sidecars: 100+200+250 = 550 m, but it asks for
        // 100 Mi of memory: 10+20+100 = 130 Mi beats the steady 60 Mi.
        let p = plan(
            vec![
                c("s1", Sidecar, 100, 10),
                c("i1", Init, 900, 5),
                c("s2", Sidecar, 200, 20),
                c("i2", Init, 250, 100),
            ],
            vec![c("app", Main, 300, 30)],
        );
        let l = pod_limits(&p);
        // cpu: i1 ran beside s1 only: 100+900 = 1000 m is the peak.
        assert_eq!(l.cpu_millis, Some(1000));
        assert_eq!(l.memory_bytes, Some(130 << 20));
        let cg = pod_cgroup(&p);
        assert_eq!(cg.memory_limit_bytes, Some(130 << 20));
        assert_eq!(cg.cpu_quota_us, Some(100_000));
        assert_eq!(cg.cpu_shares, 1024);
    }

    #[test]
    fn pod_level_resources_size_the_pod_cgroup_over_the_containers() {
        use ContainerRole::*;
        let mut free = ContainerPlan::new("free", Main, "img");
        free.resources.requests.cpu_millis = Some(250);
        let mut p = plan(vec![], vec![free, c("capped", Main, 100, 10)]);
        let mut pod = tandem_api::plan::Resources::default();
        pod.limits.memory_bytes = Some(200 << 20);
        pod.limits.cpu_millis = Some(1500);
        p.resources = Some(pod);
        let cg = pod_cgroup(&p);
        // A container without limits no longer leaves the pod unbounded.
        assert_eq!(cg.memory_limit_bytes, Some(200 << 20));
        assert_eq!(cg.cpu_quota_us, Some(150_000));
        // The pod-level request defaults to its limit: 1500 m → 1536 shares.
        assert_eq!(cg.cpu_shares, 1536);
        // Pod-level limits with requests equal to them make the pod Guaranteed, whatever its
        // containers say.
        assert_eq!(crate::status::qos_class(&p), "Guaranteed");
    }

    #[test]
    fn a_container_without_a_limit_leaves_the_pod_unbounded() {
        use ContainerRole::*;
        let mut free = ContainerPlan::new("free", Main, "img");
        free.resources.requests.cpu_millis = Some(250);
        let p = plan(vec![c("s", Sidecar, 100, 10)], vec![free]);
        let cg = pod_cgroup(&p);
        assert_eq!(cg.memory_limit_bytes, None);
        assert_eq!(cg.cpu_quota_us, None);
        // Requests still size the shares: 100 (limit as request) + 250 = 350 m → 358 shares.
        assert_eq!(cg.cpu_shares, 358);
        let best_effort = plan(vec![], vec![ContainerPlan::new("x", Main, "img")]);
        assert_eq!(pod_cgroup(&best_effort).cpu_shares, 2);
    }

    /// The kubelet counts a limit of zero as no limit (`IsZero`): one such container leaves the
    /// pod cgroup without that limit.
    #[test]
    fn a_zero_limit_is_no_limit_for_the_pod_cgroup() {
        use ContainerRole::*;
        let p = plan(vec![], vec![c("a", Main, 100, 10), c("b", Main, 0, 0)]);
        let cg = pod_cgroup(&p);
        assert_eq!(cg.memory_limit_bytes, None);
        assert_eq!(cg.cpu_quota_us, None);
        let p = plan(vec![], vec![c("a", Main, 100, 10), c("b", Main, 1, 1)]);
        assert_eq!(pod_cgroup(&p).memory_limit_bytes, Some(11 << 20));
    }
}
