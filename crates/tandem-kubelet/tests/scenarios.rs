//! Engine scenarios against the fake runtime in paused virtual time (tier T1): the kubelet's
//! ordering, restart and termination rules checked through the marker log, as the kubelet's own
//! e2e suite checks them (kubelet-semantics §7.0).

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::PodStatus;
use tandem_api::plan::*;
use tandem_kubelet::driver::{Control, Driver, Observer, Outcome};
use tandem_kubelet::events::PodEvent;
use tandem_kubelet::fake::{Behavior, FakeRuntime, Mark};
use tandem_kubelet::state::TerminationReason;
use tandem_kubelet::status::{Clock, PodFacts};
use tandem_kubelet::sync::PodPhase;
use tokio::sync::mpsc;
use tokio::time::Instant;

fn container(name: &str, role: ContainerRole) -> ContainerPlan {
    ContainerPlan {
        name: name.into(),
        role,
        image: "busybox".into(),
        image_pull_policy: PullPolicy::IfNotPresent,
        command: None,
        args: None,
        working_dir: None,
        env: vec![],
        ports: vec![],
        volume_mounts: vec![],
        resources: Resources::default(),
        startup_probe: None,
        liveness_probe: None,
        readiness_probe: None,
        post_start: None,
        pre_stop: None,
        termination_message_path: "/dev/termination-log".into(),
        termination_message_policy: TerminationMessagePolicy::File,
        security: ContainerSecurity::default(),
        stdin: false,
        tty: false,
    }
}

/// `spec` lists containers as `init:NAME`, `sidecar:NAME` or `NAME` (main), in declaration order.
fn pod(policy: RestartPolicy, grace: i64, spec: &[&str]) -> PodPlan {
    let mut init = vec![];
    let mut main = vec![];
    for s in spec {
        match s.split_once(':') {
            Some(("init", n)) => init.push(container(n, ContainerRole::Init)),
            Some(("sidecar", n)) => init.push(container(n, ContainerRole::Sidecar)),
            _ => main.push(container(s, ContainerRole::Main)),
        }
    }
    PodPlan {
        name: "p".into(),
        namespace: "default".into(),
        uid: "u".into(),
        labels: BTreeMap::new(),
        annotations: BTreeMap::new(),
        hostname: "p".into(),
        subdomain: None,
        restart_policy: policy,
        termination_grace_period_seconds: grace,
        active_deadline_seconds: None,
        init_containers: init,
        containers: main,
        volumes: vec![],
        dns_policy: DnsPolicy::ClusterFirst,
        dns_config: None,
        host_aliases: vec![],
        host_network: false,
        host_pid: false,
        host_ipc: false,
        share_process_namespace: false,
        service_account_name: "default".into(),
        node_name: "n".into(),
        security: PodSecurity::default(),
        enable_service_links: true,
    }
}

#[derive(Clone, Default)]
struct Collect(Rc<RefCell<(Vec<PodStatus>, Vec<PodEvent>)>>);

impl Observer for Collect {
    fn status(&mut self, status: &PodStatus, _terminating: bool) {
        self.0.borrow_mut().0.push(status.clone());
    }
    fn event(&mut self, event: &PodEvent) {
        self.0.borrow_mut().1.push(event.clone());
    }
}

struct Run {
    outcome: Option<Outcome>,
    marks: Vec<Mark>,
    t0: Instant,
    collected: Collect,
}

impl Run {
    fn at(&self, container: &str, what: &str) -> Vec<u64> {
        self.marks
            .iter()
            .filter(|m| m.container == container && m.what == what)
            .map(|m| (m.at - self.t0).as_millis() as u64)
            .collect()
    }
    fn first(&self, container: &str, what: &str) -> u64 {
        self.at(container, what).first().copied().unwrap_or_else(|| panic!("{container} never {what}: {:?}", self.marks))
    }
    fn last(&self, container: &str, what: &str) -> u64 {
        self.at(container, what).last().copied().unwrap_or_else(|| panic!("{container} never {what}: {:?}", self.marks))
    }
    /// StartsBefore of the kubelet's harness: a's first Started precedes b's first Starting.
    fn starts_before(&self, a: &str, b: &str) -> bool {
        self.first(a, "Started") <= self.first(b, "Starting")
    }
    /// ExitsBefore: a's last exit precedes b's last exit.
    fn exits_before(&self, a: &str, b: &str) -> bool {
        self.last(a, "Exiting") <= self.last(b, "Exiting")
    }
    fn phase(&self) -> PodPhase {
        self.outcome.as_ref().expect("pod ended").phase
    }
    fn events(&self, reason: &str) -> usize {
        self.collected.0.borrow().1.iter().filter(|e| e.reason == reason).count()
    }
}

/// Runs a pod in paused time; `delete_at` sends a delete with the pod's grace; `until` bounds the run.
async fn run(plan: PodPlan, scripts: &[(&str, Vec<Behavior>)], delete_at: Option<Duration>, until: Duration) -> Run {
    tokio::time::pause();
    let t0 = Instant::now();
    let (rt_tx, rt_rx) = mpsc::unbounded_channel();
    let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
    let rt = Rc::new(FakeRuntime::new(rt_tx));
    for (name, b) in scripts {
        rt.script(name, b.clone());
    }
    let collected = Collect::default();
    let clock = Clock { origin: t0, origin_wall_us: 0 };
    let driver = Driver::new(Rc::new(plan), Rc::clone(&rt), collected.clone(), PodFacts::default(), clock, rt_rx, ctl_rx);
    let local = tokio::task::LocalSet::new();
    let outcome = local
        .run_until(async move {
            if let Some(at) = delete_at {
                tokio::task::spawn_local(async move {
                    tokio::time::sleep(at).await;
                    let _ = ctl_tx.send(Control::Delete { grace: None });
                });
            }
            tokio::time::timeout(until, driver.run()).await.ok()
        })
        .await;
    Run { outcome, marks: rt.marks(), t0, collected }
}

const S: Duration = Duration::from_secs(1);

#[tokio::test(flavor = "current_thread")]
async fn init_containers_run_one_at_a_time_in_order_then_mains() {
    let plan = pod(RestartPolicy::Never, 30, &["init:i1", "init:i2", "app"]);
    let r = run(plan, &[("i1", vec![Behavior::exit(S, 0)]), ("i2", vec![Behavior::exit(S, 0)]), ("app", vec![Behavior::exit(S, 0)])], None, 60 * S).await;
    assert!(r.exits_before("i1", "i2") && r.first("i1", "Exiting") <= r.first("i2", "Starting"));
    assert!(r.first("i2", "Exiting") <= r.first("app", "Starting"));
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn sidecar_starts_before_app_and_stops_after_it_on_completion() {
    let plan = pod(RestartPolicy::Never, 30, &["sidecar:proxy", "app"]);
    let r = run(plan, &[("app", vec![Behavior::exit(3 * S, 0)])], None, 60 * S).await;
    assert!(r.starts_before("proxy", "app"));
    assert!(r.exits_before("app", "proxy"));
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert_eq!(r.outcome.as_ref().map(|o| o.reason), Some(TerminationReason::Completed));
}

#[tokio::test(flavor = "current_thread")]
async fn sidecars_stop_in_reverse_declaration_order_on_delete() {
    let plan = pod(RestartPolicy::Always, 30, &["sidecar:s1", "sidecar:s2", "sidecar:s3", "app"]);
    let slow = Behavior::serve().term_after(S);
    let r = run(plan, &[("s1", vec![slow.clone()]), ("s2", vec![slow.clone()]), ("s3", vec![slow.clone()]), ("app", vec![slow])], Some(5 * S), 120 * S).await;
    assert!(r.starts_before("s1", "s2") && r.starts_before("s2", "s3") && r.starts_before("s3", "app"));
    assert!(r.exits_before("app", "s3") && r.exits_before("s3", "s2") && r.exits_before("s2", "s1"));
    assert!(r.first("app", "Exiting") <= r.first("s3", "SIGTERM"));
    assert_eq!(r.events("Killing"), 4);
}

#[tokio::test(flavor = "current_thread")]
async fn crash_loop_backoff_follows_the_kubelet_timing() {
    let plan = pod(RestartPolicy::Always, 30, &["app"]);
    let r = run(plan, &[("app", vec![Behavior::exit(Duration::ZERO, 1)])], None, 320 * S).await;
    let starts: Vec<u64> = r.at("app", "Starting").iter().map(|ms| ms / 1000).collect();
    assert_eq!(starts[..7], [0, 0, 10, 30, 70, 150, 310]);
    assert!(r.events("BackOff") >= 5);
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_init_container_fails_the_pod_under_never_and_nothing_else_starts() {
    let plan = pod(RestartPolicy::Never, 30, &["sidecar:s1", "init:i1", "app"]);
    let r = run(plan, &[("i1", vec![Behavior::exit(S, 2)])], None, 60 * S).await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert!(r.at("app", "Starting").is_empty());
    assert!(!r.at("s1", "SIGTERM").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_container_ignoring_sigterm_is_killed_after_the_grace_period() {
    let plan = pod(RestartPolicy::Always, 5, &["app"]);
    let r = run(plan, &[("app", vec![Behavior::serve().ignoring_term()])], Some(S), 60 * S).await;
    let waited = r.first("app", "SIGKILL") - r.first("app", "SIGTERM");
    assert!((5000..5010).contains(&waited), "SIGKILL {waited} ms after SIGTERM");
    assert_eq!(r.phase(), PodPhase::Failed);
}
