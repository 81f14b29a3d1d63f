//! How long the engine's decision function takes for one pod in the states it spends its life in:
//! a 3-container pod (native sidecar, app, adapter) before anything started, running and ready,
//! and terminating; and a pod of 30 containers running. The driver asks after every event, so
//! this is the engine's cost per event. `cargo bench -p tandem-kubelet`.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion};
use tandem_api::plan::{ContainerPlan, ContainerRole, PodPlan};
use tandem_kubelet::state::{Observed, TerminationReason};
use tandem_kubelet::sync::compute_actions;
use tokio::time::Instant;

fn plan(mains: usize) -> PodPlan {
    let sidecar = ContainerPlan::new("shipper", ContainerRole::Sidecar, "busybox");
    let containers = (0..mains)
        .map(|i| ContainerPlan::new(&format!("c{i}"), ContainerRole::Main, "busybox"))
        .collect();
    PodPlan::new("p", vec![sidecar], containers)
}

/// Every container started and running since `t0`.
fn running(plan: &PodPlan, t0: Instant) -> Observed {
    let mut obs = Observed::new(plan);
    obs.pod_started(t0);
    for c in plan.all_containers() {
        let rec = obs.get_mut(&c.name);
        rec.start_begun(c, None, t0);
        rec.start_succeeded(Default::default(), t0);
    }
    obs
}

fn bench(c: &mut Criterion) {
    let t0 = Instant::now();
    let now = t0 + Duration::from_secs(5);
    let three = plan(2);
    let fresh = Observed::new(&three);
    c.bench_function("decide/3-containers/pending", |b| {
        b.iter(|| compute_actions(black_box(&three), black_box(&fresh), now))
    });
    let up = running(&three, t0);
    c.bench_function("decide/3-containers/running", |b| {
        b.iter(|| compute_actions(black_box(&three), black_box(&up), now))
    });
    let mut ending = up.clone();
    ending.terminate(TerminationReason::Deleted, Duration::from_secs(30), now);
    c.bench_function("decide/3-containers/terminating", |b| {
        b.iter(|| compute_actions(black_box(&three), black_box(&ending), now))
    });
    let thirty = plan(29);
    let many = running(&thirty, t0);
    c.bench_function("decide/30-containers/running", |b| {
        b.iter(|| compute_actions(black_box(&thirty), black_box(&many), now))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
