//! Engine scenarios against the fake runtime in paused virtual time (tier T1): the kubelet's
//! ordering, restart, probe, hook and termination rules checked through the marker log, as the
//! kubelet's own e2e suite checks them (docs/kubelet-rules.md §7.0). Each test is named after the §7
//! case it ports (`tNNN_...`); cases that need an API the engine does not have (node reboots)
//! are not here.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ContainerStatus, PodStatus};
use support::fake::{Behavior, FakeRuntime, HandlerScript, Mark};
use tandem_api::plan::*;
use tandem_kubelet::action::PodPhase;
use tandem_kubelet::driver::{Control, Driver, Observer, Outcome};
use tandem_kubelet::events::{EventDetails, EventReason, PodEvent};
use tandem_kubelet::runtime::StorageUsage;
use tandem_kubelet::runtime::{HandlerKind, HandlerResult, RuntimeEvent, StartFailure};
use tandem_kubelet::state::{KillReason, TerminationReason};
use tandem_kubelet::status::{Clock, PodFacts};
use tokio::sync::mpsc;
use tokio::time::Instant;

const S: Duration = Duration::from_secs(1);
const MS: Duration = Duration::from_millis(1);

/// Changes one container of the plan.
fn with(mut plan: PodPlan, name: &str, f: impl FnOnce(&mut ContainerPlan)) -> PodPlan {
    let c = plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
        .find(|c| c.name == name)
        .expect("container in plan");
    f(c);
    plan
}

fn exec() -> Handler {
    Handler::Exec {
        command: vec!["sh".into(), "-c".into(), "true".into()],
    }
}

/// An exec probe: initialDelay, period, failureThreshold.
fn probe(initial: i32, period: i32, failure: i32) -> Probe {
    Probe {
        handler: exec(),
        initial_delay_seconds: initial,
        timeout_seconds: 1,
        period_seconds: period,
        success_threshold: 1,
        failure_threshold: failure,
        termination_grace_period_seconds: None,
    }
}

/// Statuses with their time, events, and each status's `terminating` flag.
type Collected = (Vec<(Instant, PodStatus)>, Vec<PodEvent>, Vec<bool>);

#[derive(Clone, Default)]
struct Collect(Rc<RefCell<Collected>>);

impl Observer for Collect {
    fn status(&mut self, status: &PodStatus, terminating: bool) {
        let mut c = self.0.borrow_mut();
        c.0.push((Instant::now(), status.clone()));
        c.2.push(terminating);
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
    rt: Rc<FakeRuntime>,
}

impl Run {
    /// Milliseconds since the start at which `container` logged `what`.
    fn at(&self, container: &str, what: &str) -> Vec<u64> {
        self.marks
            .iter()
            .filter(|m| m.container == container && m.what == what)
            .map(|m| (m.at - self.t0).as_millis() as u64)
            .collect()
    }
    fn first(&self, container: &str, what: &str) -> u64 {
        self.at(container, what)
            .first()
            .copied()
            .unwrap_or_else(|| panic!("{container} never {what}: {:#?}", self.marks))
    }
    fn last(&self, container: &str, what: &str) -> u64 {
        self.at(container, what)
            .last()
            .copied()
            .unwrap_or_else(|| panic!("{container} never {what}: {:#?}", self.marks))
    }
    /// StartsBefore of the kubelet's harness: a's first Started precedes b's first Starting.
    fn starts_before(&self, a: &str, b: &str) -> bool {
        self.first(a, "Started") <= self.first(b, "Starting")
    }
    /// ExitsBefore: a's first exit precedes b's last exit.
    fn exits_before(&self, a: &str, b: &str) -> bool {
        self.first(a, "Exiting") <= self.last(b, "Exiting")
    }
    /// RunTogether: some instance of b started while an instance of a was running.
    fn run_together(&self, a: &str, b: &str) -> bool {
        let starts = self.at(a, "Started");
        let exits = self.at(a, "Exiting");
        let b_starts = self.at(b, "Started");
        starts.iter().any(|s| {
            let end = exits.iter().find(|e| *e >= s).copied().unwrap_or(u64::MAX);
            b_starts.iter().any(|b| b >= s && *b < end)
        })
    }
    fn rt_calls(&self, c: &str, kind: HandlerKind) -> u32 {
        self.rt.handler_calls(c, kind)
    }
    fn starts(&self, c: &str) -> usize {
        self.at(c, "Starting").len()
    }
    fn has_restarted(&self, c: &str) -> bool {
        self.starts(c) >= 2
    }
    fn doesnt_start(&self, c: &str) -> bool {
        self.at(c, "Started").is_empty()
    }
    fn phase(&self) -> PodPhase {
        self.outcome.as_ref().expect("pod ended").phase
    }
    fn events(&self, reason: EventReason) -> Vec<PodEvent> {
        self.collected
            .0
            .borrow()
            .1
            .iter()
            .filter(|e| e.reason == reason)
            .cloned()
            .collect()
    }
    fn status(&self) -> PodStatus {
        self.collected
            .0
            .borrow()
            .0
            .last()
            .map(|s| s.1.clone())
            .expect("a status")
    }
    /// Every published status with its time (ms since the start).
    fn statuses(&self) -> Vec<(u64, PodStatus)> {
        self.collected
            .0
            .borrow()
            .0
            .iter()
            .map(|(t, s)| ((*t - self.t0).as_millis() as u64, s.clone()))
            .collect()
    }
    /// The `terminating` flag of every published status, in order.
    fn terminating(&self) -> Vec<bool> {
        self.collected.0.borrow().2.clone()
    }
    fn container(&self, name: &str) -> ContainerStatus {
        container_of(&self.status(), name)
    }
    fn restarts(&self, name: &str) -> i32 {
        self.container(name).restart_count
    }
    fn ever_phase(&self, phase: &str) -> bool {
        self.statuses()
            .iter()
            .any(|(_, s)| s.phase.as_deref() == Some(phase))
    }
    fn ever_ready(&self) -> bool {
        self.statuses().iter().any(|(_, s)| condition(s, "Ready"))
    }
}

fn container_of(s: &PodStatus, name: &str) -> ContainerStatus {
    s.init_container_statuses
        .iter()
        .flatten()
        .chain(s.container_statuses.iter().flatten())
        .find(|c| c.name == name)
        .cloned()
        .expect("container status")
}

fn condition(s: &PodStatus, kind: &str) -> bool {
    s.conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == kind && c.status == "True")
}

/// A handler script: `f(attempt, call number, uptime)`.
type HandlerFn = Rc<dyn Fn(u32, u32, Duration) -> HandlerScript>;

/// A test pod: its plan, scripts, and deletes (at, grace) to send.
struct Scenario {
    plan: PodPlan,
    scripts: Vec<(String, Vec<Behavior>)>,
    handlers: Vec<(String, HandlerKind, HandlerFn)>,
    deletes: Vec<(Duration, Option<Duration>)>,
    /// Image updates (at, container, image) to send, as `tandem set image` does (§1.7).
    images: Vec<(Duration, String, String)>,
    /// Local-storage measurements the runtime reports, at these times.
    storage: Vec<(Duration, StorageUsage)>,
    /// When the runtime reports the sandbox lost (§2.3).
    sandbox_losses: Vec<Duration>,
    /// Sandbox attempts whose creation fails, with the message.
    sandbox_failures: Vec<(u32, String)>,
    /// When the object the pod's awaited volumes project appears.
    volumes_missing_until: Option<Duration>,
    /// While the pod's file volumes cannot be made again.
    resync_failing: Option<(Duration, Duration)>,
    /// Conditions set from outside (at, type, status), as `tandem patch --subresource=status`
    /// does, with whether the driver takes them.
    conditions: Vec<(Duration, String, String, bool)>,
    /// Ephemeral containers added (at, container), as `kubectl debug` does (§1.8).
    ephemerals: Vec<(Duration, ContainerPlan)>,
    until: Duration,
}

impl Scenario {
    fn new(plan: PodPlan) -> Self {
        Scenario {
            plan,
            scripts: vec![],
            handlers: vec![],
            deletes: vec![],
            images: vec![],
            storage: vec![],
            sandbox_losses: vec![],
            sandbox_failures: vec![],
            volumes_missing_until: None,
            resync_failing: None,
            conditions: vec![],
            ephemerals: vec![],
            until: 600 * S,
        }
    }
    fn script(mut self, c: &str, b: Vec<Behavior>) -> Self {
        self.scripts.push((c.into(), b));
        self
    }
    /// Scripts a handler: `f(attempt, call number, uptime)`.
    fn handler(
        mut self,
        c: &str,
        kind: HandlerKind,
        f: impl Fn(u32, u32, Duration) -> HandlerScript + 'static,
    ) -> Self {
        self.handlers.push((c.into(), kind, Rc::new(f)));
        self
    }
    fn delete_at(mut self, at: Duration, grace: Option<Duration>) -> Self {
        self.deletes.push((at, grace));
        self
    }
    /// Updates the image of `container` at `at`, and checks the update was taken.
    fn set_image_at(mut self, at: Duration, container: &str, image: &str) -> Self {
        self.images.push((at, container.into(), image.into()));
        self
    }
    /// The runtime measures this local-storage usage at `at`.
    fn storage_at(mut self, at: Duration, usage: StorageUsage) -> Self {
        self.storage.push((at, usage));
        self
    }
    /// The pod's sandbox dies at `at` (its pause process, or a node reboot).
    fn lose_sandbox_at(mut self, at: Duration) -> Self {
        self.sandbox_losses.push(at);
        self
    }
    /// Making sandbox `attempt` fails.
    fn fail_sandbox(mut self, attempt: u32, message: &str) -> Self {
        self.sandbox_failures.push((attempt, message.into()));
        self
    }
    /// The pod's awaited volumes cannot be set up before `at`.
    fn volumes_missing_until(mut self, at: Duration) -> Self {
        self.volumes_missing_until = Some(at);
        self
    }
    /// The pod's file volumes cannot be made again from `from` until `until`.
    fn resync_failing(mut self, from: Duration, until: Duration) -> Self {
        self.resync_failing = Some((from, until));
        self
    }
    fn until(mut self, d: Duration) -> Self {
        self.until = d;
        self
    }
    /// Adds ephemeral container `name` at `at`, and checks it was taken.
    fn debug_at(mut self, at: Duration, name: &str) -> Self {
        let mut c = ContainerPlan::new(name, ContainerRole::Ephemeral, "busybox");
        c.restart_policy = None;
        self.ephemerals.push((at, c));
        self
    }
    /// Sets condition `kind` to `status` at `at`; `taken` says whether the driver accepts it.
    fn condition_at(mut self, at: Duration, kind: &str, status: &str, taken: bool) -> Self {
        self.conditions
            .push((at, kind.into(), status.into(), taken));
        self
    }

    async fn run(self) -> Run {
        tokio::time::pause();
        let t0 = Instant::now();
        let (rt_tx, rt_rx) = mpsc::unbounded_channel();
        let (ctl_tx, ctl_rx) = mpsc::unbounded_channel();
        let storage_tx = rt_tx.clone();
        let rt = Rc::new(FakeRuntime::new(rt_tx));
        for (name, b) in &self.scripts {
            rt.script(name, b.clone());
        }
        for (name, kind, f) in self.handlers {
            rt.handler(&name, kind, move |call| {
                f(call.attempt, call.n, call.uptime)
            });
        }
        let collected = Collect::default();
        let clock = Clock {
            origin: t0,
            origin_wall_us: 0,
        };
        let driver = Driver::new(
            Rc::new(self.plan),
            Rc::clone(&rt),
            collected.clone(),
            PodFacts {
                sandbox_ready: true,
                ..Default::default()
            },
            clock,
            rt_rx,
            ctl_rx,
        );
        let local = tokio::task::LocalSet::new();
        let deletes = self.deletes;
        let images = self.images;
        let images_tx = ctl_tx.clone();
        let storage = self.storage;
        for (attempt, message) in &self.sandbox_failures {
            rt.fail_sandbox(*attempt, message);
        }
        if let Some(at) = self.volumes_missing_until {
            rt.volumes_missing_until(t0 + at);
        }
        if let Some((from, until)) = self.resync_failing {
            rt.resync_failing(t0 + from, t0 + until);
        }
        let losses = self.sandbox_losses;
        let conditions = self.conditions;
        let conditions_tx = ctl_tx.clone();
        let loser = Rc::clone(&rt);
        let until = self.until;
        // What the control requests got back, checked once the run is over: an assertion inside
        // a spawned task would panic into a handle nobody awaits, and the test would pass.
        let ephemerals = self.ephemerals;
        let debug_tx = ctl_tx.clone();
        let expected_answers = images.len() + conditions.len() + ephemerals.len();
        let answers: Rc<RefCell<Vec<Result<(), String>>>> = Rc::default();
        let (image_answers, condition_answers) = (Rc::clone(&answers), Rc::clone(&answers));
        let debug_answers = Rc::clone(&answers);
        let outcome = local
            .run_until(async move {
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for (at, grace) in deletes {
                        tokio::time::sleep_until(start + at).await;
                        let _ = ctl_tx.send(Control::Delete { grace });
                    }
                    // Keep the channel open: a closed control channel is not a request.
                    std::future::pending::<()>().await;
                });
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for (at, container, image) in images {
                        tokio::time::sleep_until(start + at).await;
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        let _ = images_tx.send(Control::SetImages {
                            images: vec![(container, image)],
                            applied: Some(tx),
                        });
                        let result = rx.await;
                        image_answers.borrow_mut().push(match result {
                            Ok(Ok(())) => Ok(()),
                            other => Err(format!("image update not taken: {other:?}")),
                        });
                    }
                    std::future::pending::<()>().await;
                });
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for (at, usage) in storage {
                        tokio::time::sleep_until(start + at).await;
                        let _ = storage_tx.send(RuntimeEvent::LocalStorage(usage));
                    }
                });
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for (at, type_, status, taken) in conditions {
                        tokio::time::sleep_until(start + at).await;
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        let condition = k8s_openapi::api::core::v1::PodCondition {
                            type_,
                            status,
                            ..Default::default()
                        };
                        let _ = conditions_tx.send(Control::SetConditions {
                            conditions: vec![condition],
                            applied: Some(tx),
                        });
                        let result = rx.await;
                        condition_answers.borrow_mut().push(
                            if matches!(result, Ok(Ok(()))) == taken {
                                Ok(())
                            } else {
                                Err(format!("condition taken: {result:?}, expected {taken}"))
                            },
                        );
                    }
                    std::future::pending::<()>().await;
                });
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for (at, container) in ephemerals {
                        tokio::time::sleep_until(start + at).await;
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        let spec = k8s_openapi::api::core::v1::EphemeralContainer {
                            name: container.name.clone(),
                            image: Some(container.image.clone()),
                            ..Default::default()
                        };
                        let _ = debug_tx.send(Control::AddEphemeral {
                            container: Box::new(container),
                            spec: Box::new(spec),
                            applied: Some(tx),
                        });
                        let result = rx.await;
                        debug_answers.borrow_mut().push(match result {
                            Ok(Ok(())) => Ok(()),
                            other => Err(format!("ephemeral container not taken: {other:?}")),
                        });
                    }
                    std::future::pending::<()>().await;
                });
                tokio::task::spawn_local(async move {
                    let start = Instant::now();
                    for at in losses {
                        tokio::time::sleep_until(start + at).await;
                        loser.lose_sandbox();
                    }
                });
                tokio::time::timeout(until, driver.run()).await.ok()
            })
            .await;
        let answers = answers.borrow();
        assert_eq!(
            answers.len(),
            expected_answers,
            "every control request is answered: {answers:?}"
        );
        let refused: Vec<_> = answers.iter().filter_map(|a| a.as_ref().err()).collect();
        assert!(refused.is_empty(), "{refused:?}");
        Run {
            outcome,
            marks: rt.marks(),
            t0,
            collected,
            rt,
        }
    }
}

fn serve() -> Behavior {
    Behavior::serve()
}
fn exits(after: Duration, code: i32) -> Behavior {
    Behavior::exit(after, code)
}
fn fail(_: u32, _: u32, _: Duration) -> HandlerScript {
    HandlerScript::fail()
}

use RestartPolicy::{Always, Never, OnFailure};

mod support;
use support::pod;

/// Paused time still advances a millisecond or so per scheduling step: compare with slack.
#[track_caller]
fn assert_near(actual: u64, expected: u64) {
    assert!(
        actual.abs_diff(expected) <= 50,
        "{actual} ms, expected about {expected} ms"
    );
}

// ---- §7.A Describe 1: regular and init containers -------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn t014_init_containers_run_serially_before_the_regular_container() {
    let plan = pod(
        Never,
        30,
        &["init:init1", "init:init2", "init:init3", "regular1"],
    );
    let plan = with(plan, "regular1", |c| c.startup_probe = Some(probe(0, 1, 3)));
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init2", vec![exits(S, 0)])
        .script("init3", vec![exits(S, 0)])
        .script("regular1", vec![exits(S, 0)])
        .run()
        .await;
    for (a, b) in [
        ("init1", "init2"),
        ("init2", "init3"),
        ("init3", "regular1"),
    ] {
        assert!(
            r.starts_before(a, b) && r.exits_before(a, b),
            "{a} before {b}"
        );
        assert!(r.first(a, "Exiting") <= r.first(b, "Starting"));
    }
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn t015_a_failed_init_container_keeps_regular_containers_from_starting() {
    let plan = pod(Never, 30, &["init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 1)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert!(!r.at("init1", "Exiting").is_empty());
    assert!(r.doesnt_start("regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t016_init_completes_before_the_regular_containers_poststart() {
    let plan = pod(Never, 30, &["init:init1", "regular1"]);
    let plan = with(plan, "regular1", |c| c.post_start = Some(exec()));
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("regular1", vec![exits(10 * S, 0)])
        .handler("regular1", HandlerKind::PostStart, |_, _, _| {
            HandlerScript::ok().taking(S)
        })
        .run()
        .await;
    assert!(r.starts_before("init1", "PostStart-regular1"));
    assert!(r.exits_before("init1", "PostStart-regular1"));
    assert!(r.run_together("regular1", "PostStart-regular1"));
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn t017_a_failing_container_restarts_under_always() {
    let plan = pod(Always, 30, &["regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(S, 1)])
        .until(120 * S)
        .run()
        .await;
    assert!(r.restarts("regular1") >= 3, "{}", r.restarts("regular1"));
    assert!(r.at("regular1", "Exiting").len() >= 3);
}

#[tokio::test(flavor = "current_thread")]
async fn t018_poststart_blocks_the_next_regular_container() {
    let plan = pod(Always, 30, &["r1", "r2"]);
    let plan = with(plan, "r1", |c| c.post_start = Some(exec()));
    let r = Scenario::new(plan)
        .handler("r1", HandlerKind::PostStart, |_, _, _| {
            HandlerScript::ok().taking(2 * S)
        })
        .until(10 * S)
        .run()
        .await;
    assert!(r.starts_before("PostStart-r1", "r2"));
    assert!(r.first("PostStart-r1", "Exiting") <= r.first("r2", "Starting"));
    assert_near(r.first("r2", "Starting"), 2000);
    // While postStart runs the container is reported as still being created (§1.6).
    let during = r
        .statuses()
        .into_iter()
        .find(|(t, _)| *t > 0 && *t < 2000)
        .expect("a status during postStart");
    let st = container_of(&during.1, "r1");
    assert!(st.state.and_then(|s| s.waiting).is_some());
    assert_eq!(st.started, Some(false));
}

#[tokio::test(flavor = "current_thread")]
async fn t019_t021_an_init_container_that_cannot_start_blocks_everything() {
    let plan = pod(Never, 30, &["init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script(
            "init1",
            vec![Behavior::start_error(StartFailure::ErrImageNeverPull)],
        )
        .until(60 * S)
        .run()
        .await;
    assert!(r.doesnt_start("init1"));
    assert!(r.doesnt_start("regular1"));
    let init = r.container("init1");
    assert_eq!(
        init.state
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason)
            .as_deref(),
        Some("ErrImageNeverPull")
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t022_init_containers_do_not_rerun_when_the_regular_container_restarts() {
    let plan = pod(
        Always,
        30,
        &["init:init1", "init:init2", "init:init3", "regular1"],
    );
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init2", vec![exits(S, 0)])
        .script("init3", vec![exits(S, 0)])
        .script("regular1", vec![exits(10 * S, 255)])
        .until(200 * S)
        .run()
        .await;
    assert!(r.restarts("regular1") >= 3);
    assert!(r.has_restarted("regular1"));
    for i in ["init1", "init2", "init3"] {
        assert!(!r.has_restarted(i), "{i} restarted");
    }
    assert!(r.starts_before("init1", "init2") && r.starts_before("init3", "regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t023_termination_grace_period_is_respected() {
    let plan = pod(Always, 30, &["regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![serve().ignoring_term()])
        .delete_at(S, None)
        .run()
        .await;
    assert_near(r.first("regular1", "SIGTERM"), 1000);
    assert_near(r.first("regular1", "SIGKILL"), 31_000);
    assert_eq!(
        r.container("regular1")
            .state
            .and_then(|s| s.terminated)
            .map(|t| t.exit_code),
        Some(137)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t024_grace_period_bounds_a_long_running_prestop_hook() {
    let plan = pod(Always, 30, &["regular1"]);
    let plan = with(plan, "regular1", |c| c.pre_stop = Some(exec()));
    let r = Scenario::new(plan)
        .script("regular1", vec![serve().ignoring_term()])
        .handler("regular1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::forever()
        })
        .delete_at(S, None)
        .run()
        .await;
    assert_near(r.first("PreStop-regular1", "Started"), 1000);
    // preStop is charged to the grace period; the container then gets the 2 s minimum (§4.2).
    assert_near(r.first("regular1", "SIGTERM"), 31_000);
    assert_near(r.first("regular1", "SIGKILL"), 33_000);
    assert!(r.outcome.is_some());
}

async fn probe_kill_runs_prestop(startup: bool) -> Run {
    let plan = pod(Never, 30, &["regular1"]);
    let plan = with(plan, "regular1", |c| {
        let p = Some(probe(10, 1, 1));
        if startup {
            c.startup_probe = p;
        } else {
            c.liveness_probe = p;
        }
        c.pre_stop = Some(exec());
    });
    let kind = if startup {
        HandlerKind::Startup
    } else {
        HandlerKind::Liveness
    };
    Scenario::new(plan)
        .script("regular1", vec![serve().term_after(15 * S)])
        .handler("regular1", kind, fail)
        .handler("regular1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(S)
        })
        .run()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn t025_a_failed_startup_probe_calls_prestop_and_stops_the_container() {
    let r = probe_kill_runs_prestop(true).await;
    assert!(r.run_together("regular1", "PreStop-regular1"));
    assert_near(r.first("PreStop-regular1", "Started"), 10_000);
    assert_near(r.first("regular1", "SIGTERM"), 11_000);
    assert_near(r.first("regular1", "Exiting"), 26_000);
    assert!(!r.has_restarted("regular1"));
    let kill = &r.events(EventReason::Killing)[0];
    assert_eq!(kill.message, "Container regular1 failed startup probe");
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn t026_a_failed_liveness_probe_calls_prestop_and_stops_the_container() {
    let r = probe_kill_runs_prestop(false).await;
    assert!(r.run_together("regular1", "PreStop-regular1"));
    assert_near(r.first("PreStop-regular1", "Started"), 10_000);
    assert!(!r.has_restarted("regular1"));
    assert_eq!(
        r.events(EventReason::Killing)[0].message,
        "Container regular1 failed liveness probe"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t027_readiness_runs_during_prestop_but_liveness_does_not() {
    let plan = pod(Never, 100, &["regular1"]);
    let plan = with(plan, "regular1", |c| {
        c.liveness_probe = Some(probe(10, 1, 1));
        c.readiness_probe = Some(probe(1, 1, 1));
        c.pre_stop = Some(exec());
    });
    let r = Scenario::new(plan)
        .script("regular1", vec![serve().term_after(15 * S)])
        .handler("regular1", HandlerKind::Liveness, fail)
        .handler("regular1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(10 * S)
        })
        .run()
        .await;
    let (from, to) = (
        r.first("PreStop-regular1", "Started"),
        r.first("PreStop-regular1", "Exiting"),
    );
    assert_near(from, 10_000);
    assert_near(to, 20_000);
    let during = |c: &str| r.at(c, "Started").iter().any(|t| *t > from && *t < to);
    assert!(during("Readiness-regular1"));
    assert!(!during("Liveness-regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t028_no_sidecar_liveness_and_no_sidecar_restart_while_the_pod_terminates() {
    let plan = pod(Always, 100, &["sidecar:ri1", "regular1"]);
    let plan = with(plan, "ri1", |c| c.liveness_probe = Some(probe(1, 1, 1)));
    let plan = with(plan, "regular1", |c| c.pre_stop = Some(exec()));
    let r = Scenario::new(plan)
        .script("ri1", vec![serve().term_after(S)])
        .handler("ri1", HandlerKind::Liveness, |_, _, up| {
            if up >= 3 * S {
                HandlerScript::fail()
            } else {
                HandlerScript::ok()
            }
        })
        .handler("regular1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(40 * S)
        })
        .delete_at(2500 * MS, None)
        .run()
        .await;
    assert!(r.at("Liveness-ri1", "Started").iter().all(|t| *t < 2500));
    assert!(!r.has_restarted("ri1"));
    assert!(r.outcome.is_some());
}

// ---- §7.A Describe 3: native sidecars -------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn t037_t044_three_init_containers_and_two_sidecars_under_never() {
    let plan = pod(
        Never,
        30,
        &[
            "init:init1",
            "sidecar:ri1",
            "init:init2",
            "sidecar:ri2",
            "init:init3",
            "regular1",
        ],
    );
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init2", vec![exits(S, 0)])
        .script("init3", vec![exits(S, 0)])
        .script("regular1", vec![exits(S, 0)])
        .script("ri1", vec![serve().term_after(S)])
        .script("ri2", vec![serve().term_after(S)])
        .run()
        .await;
    let order = ["init1", "ri1", "init2", "ri2", "init3", "regular1"];
    for w in order.windows(2) {
        assert!(r.starts_before(w[0], w[1]), "{} before {}", w[0], w[1]);
    }
    assert!(r.run_together("ri1", "init2") && r.run_together("ri2", "regular1"));
    assert!(r.exits_before("regular1", "ri2") && r.exits_before("ri2", "ri1"));
    assert!(!r.has_restarted("ri1") && !r.has_restarted("ri2"));
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn t047_a_failed_init_after_a_sidecar_terminates_the_pod_in_reverse_order() {
    let plan = pod(
        Never,
        30,
        &[
            "init:init1",
            "sidecar:ri1",
            "init:init2",
            "sidecar:ri2",
            "regular1",
        ],
    );
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("ri1", vec![serve().term_after(5 * S)])
        .script("init2", vec![exits(30 * S, 1)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert!(r.doesnt_start("ri2") && r.doesnt_start("regular1"));
    assert!(r.exits_before("init1", "init2") && r.exits_before("init2", "ri1"));
    assert_eq!(
        r.outcome.as_ref().map(|o| o.reason),
        Some(TerminationReason::InitFailed)
    );
}

/// A sidecar next to a regular container that runs to completion (T48–T50, T69–T71).
async fn sidecar_runs_continuously(policy: RestartPolicy) {
    let plan = pod(policy, 30, &["sidecar:ri1", "regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(S, 0)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert!(!r.has_restarted("ri1"));
    assert!(!r.has_restarted("regular1"));
    assert!(r.starts_before("ri1", "regular1") && r.exits_before("regular1", "ri1"));
    assert_eq!(
        r.outcome.as_ref().map(|o| o.reason),
        Some(TerminationReason::Completed)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t048_t050_a_sidecar_runs_continuously_under_never() {
    sidecar_runs_continuously(Never).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t069_t071_a_sidecar_runs_continuously_under_onfailure() {
    sidecar_runs_continuously(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t053_t054_a_sidecar_that_cannot_start_blocks_the_regular_container() {
    let plan = pod(Never, 30, &["sidecar:ri1", "regular1"]);
    let r = Scenario::new(plan)
        .script(
            "ri1",
            vec![Behavior::start_error(StartFailure::ErrImageNeverPull)],
        )
        .until(60 * S)
        .run()
        .await;
    assert!(r.doesnt_start("ri1") && r.doesnt_start("regular1"));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
    assert!(r.starts("ri1") >= 3, "sidecars retry whatever the policy");
}

/// A sidecar that exits every 5 s with `code`, an init container and a 60 s regular container
/// (T55–T62, T76–T83, T97–T104).
async fn sidecar_exits_continuously(policy: RestartPolicy, code: i32) -> Run {
    let plan = pod(policy, 30, &["sidecar:ri1", "init:init1", "regular1"]);
    Scenario::new(plan)
        .script("ri1", vec![exits(5 * S, code)])
        .script("init1", vec![exits(5 * S, 0)])
        .script("regular1", vec![exits(60 * S, 0)])
        .until(150 * S)
        .run()
        .await
}

fn check_sidecar_restarts_around_regular(r: &Run) {
    let reg = r.first("regular1", "Starting");
    let ri = r.at("ri1", "Starting");
    assert!(r.starts_before("ri1", "regular1"));
    assert!(
        ri.iter().any(|t| *t > 0 && *t < reg),
        "a restart before regular1: {ri:?} / {reg}"
    );
    assert!(ri.iter().any(|t| *t > reg), "a restart after regular1");
}

#[tokio::test(flavor = "current_thread")]
async fn t055_t058_a_sidecar_exiting_0_continuously_under_never() {
    let r = sidecar_exits_continuously(Never, 0).await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    check_sidecar_restarts_around_regular(&r);
    assert!(!r.has_restarted("regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t059_t062_a_sidecar_exiting_1_continuously_under_never() {
    let r = sidecar_exits_continuously(Never, 1).await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    check_sidecar_restarts_around_regular(&r);
}

#[tokio::test(flavor = "current_thread")]
async fn t076_t079_a_sidecar_exiting_0_continuously_under_onfailure() {
    let r = sidecar_exits_continuously(OnFailure, 0).await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    check_sidecar_restarts_around_regular(&r);
}

#[tokio::test(flavor = "current_thread")]
async fn t080_t083_a_sidecar_exiting_1_continuously_under_onfailure() {
    let r = sidecar_exits_continuously(OnFailure, 1).await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    check_sidecar_restarts_around_regular(&r);
}

#[tokio::test(flavor = "current_thread")]
async fn t097_t100_a_sidecar_exiting_0_continuously_under_always() {
    let r = sidecar_exits_continuously(Always, 0).await;
    assert!(r.outcome.is_none(), "an Always pod keeps running");
    check_sidecar_restarts_around_regular(&r);
    assert!(r.has_restarted("regular1"));
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "current_thread")]
async fn t101_t104_a_sidecar_exiting_1_continuously_under_always() {
    let r = sidecar_exits_continuously(Always, 1).await;
    check_sidecar_restarts_around_regular(&r);
    assert!(r.has_restarted("regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t090_t092_a_sidecar_runs_continuously_under_always() {
    let plan = pod(Always, 30, &["sidecar:ri1", "regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(S, 0)])
        .until(120 * S)
        .run()
        .await;
    assert!(r.restarts("regular1") >= 2);
    assert!(!r.has_restarted("ri1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t063_t065_an_init_container_before_a_sidecar_fails_under_never() {
    let plan = pod(Never, 30, &["init:init1", "sidecar:ri1", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 1)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert!(r.doesnt_start("ri1") && r.doesnt_start("regular1"));
    let t = r.container("init1").state.and_then(|s| s.terminated);
    assert_eq!(t.map(|t| t.exit_code), Some(1));
}

#[tokio::test(flavor = "current_thread")]
async fn t066_t068_an_init_container_after_a_sidecar_fails_under_never() {
    let plan = pod(Never, 30, &["sidecar:ri1", "init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script("ri1", vec![exits(5 * S, 1)])
        .script("init1", vec![exits(S, 1)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert!(r.run_together("ri1", "init1"));
    assert!(r.doesnt_start("regular1"));
}

/// An init container that keeps failing before or after a sidecar keeps the pod Pending under
/// OnFailure and Always (T84–T89, T105–T110).
async fn failing_init(policy: RestartPolicy, init_first: bool) -> Run {
    let spec: &[&str] = if init_first {
        &["init:init1", "sidecar:ri1", "regular1"]
    } else {
        &["sidecar:ri1", "init:init1", "regular1"]
    };
    let ri = if init_first { serve() } else { exits(5 * S, 1) };
    Scenario::new(pod(policy, 30, spec))
        .script("init1", vec![exits(S, 1)])
        .script("ri1", vec![ri])
        .until(300 * S)
        .run()
        .await
}

fn check_pending_with_restarts(r: &Run, sidecar_runs: bool) {
    assert!(!r.ever_phase("Running") && !r.ever_phase("Failed"));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
    assert!(r.restarts("init1") >= 3);
    assert!(r.doesnt_start("regular1"));
    if sidecar_runs {
        assert!(r.run_together("ri1", "init1"));
        assert!(r.restarts("ri1") >= 3);
    } else {
        assert!(r.doesnt_start("ri1"));
    }
}

#[tokio::test(flavor = "current_thread")]
async fn t084_t086_an_init_container_before_a_sidecar_keeps_failing_under_onfailure() {
    check_pending_with_restarts(&failing_init(OnFailure, true).await, false);
}

#[tokio::test(flavor = "current_thread")]
async fn t087_t089_an_init_container_after_a_sidecar_keeps_failing_under_onfailure() {
    check_pending_with_restarts(&failing_init(OnFailure, false).await, true);
}

#[tokio::test(flavor = "current_thread")]
async fn t105_t107_an_init_container_before_a_sidecar_keeps_failing_under_always() {
    check_pending_with_restarts(&failing_init(Always, true).await, false);
}

#[tokio::test(flavor = "current_thread")]
async fn t108_t110_an_init_container_after_a_sidecar_keeps_failing_under_always() {
    check_pending_with_restarts(&failing_init(Always, false).await, true);
}

#[tokio::test(flavor = "current_thread")]
async fn t111_a_sidecar_startup_probe_holds_back_the_next_container() {
    let plan = pod(Never, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let plan = with(plan, "ri2", |c| c.startup_probe = Some(probe(0, 1, 10)));
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(S, 0)])
        .handler("ri2", HandlerKind::Startup, |_, n, _| {
            if n < 3 {
                HandlerScript::fail()
            } else {
                HandlerScript::ok()
            }
        })
        .run()
        .await;
    assert!(r.starts_before("ri1", "ri2") && r.starts_before("ri2", "regular1"));
    assert_near(r.first("regular1", "Starting"), 3000);
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

/// A sidecar whose startup probe fails is restarted whatever the pod's policy, and nothing after
/// it starts (T112–T114 without the image update).
async fn sidecar_startup_failure(policy: RestartPolicy) {
    let plan = pod(policy, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let plan = with(plan, "ri2", |c| c.startup_probe = Some(probe(2, 1, 1)));
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(S, 0)])
        .handler("ri2", HandlerKind::Startup, fail)
        .until(120 * S)
        .run()
        .await;
    assert!(r.restarts("ri2") >= 2);
    assert!(r.doesnt_start("regular1"));
    assert!(!r.has_restarted("ri1"));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
    assert_eq!(
        r.events(EventReason::Killing)[0].message,
        "Init container ri2 failed startup probe, will be restarted"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t112_a_sidecar_failing_its_startup_probe_restarts_under_never() {
    sidecar_startup_failure(Never).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t113_a_sidecar_failing_its_startup_probe_restarts_under_onfailure() {
    sidecar_startup_failure(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t114_a_sidecar_failing_its_startup_probe_restarts_under_always() {
    sidecar_startup_failure(Always).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t115_a_sidecar_startup_failure_calls_prestop_and_holds_back_the_next_container() {
    let plan = pod(Always, 30, &["sidecar:ri1", "regular1"]);
    let plan = with(plan, "ri1", |c| {
        c.startup_probe = Some(probe(5, 1, 1));
        c.pre_stop = Some(exec());
    });
    let r = Scenario::new(plan)
        .script("ri1", vec![serve().term_after(15 * S)])
        .handler("ri1", HandlerKind::Startup, fail)
        .handler("ri1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(S)
        })
        .until(200 * S)
        .run()
        .await;
    assert!(r.restarts("ri1") >= 2);
    assert!(r.run_together("ri1", "PreStop-ri1"));
    assert!(r.doesnt_start("regular1"));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
}

#[tokio::test(flavor = "current_thread")]
async fn t116_a_sidecar_liveness_failure_calls_prestop_and_the_next_container_starts() {
    let plan = pod(Always, 30, &["sidecar:ri1", "regular1"]);
    let plan = with(plan, "ri1", |c| {
        c.liveness_probe = Some(probe(5, 1, 1));
        c.pre_stop = Some(exec());
    });
    let r = Scenario::new(plan)
        .script("ri1", vec![serve().term_after(15 * S)])
        .script("regular1", vec![exits(S, 0)])
        .handler("ri1", HandlerKind::Liveness, fail)
        .handler("ri1", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(S)
        })
        .until(200 * S)
        .run()
        .await;
    assert!(r.restarts("ri1") >= 2);
    assert!(r.restarts("regular1") >= 1);
    assert!(r.run_together("ri1", "PreStop-ri1"));
    assert_near(r.first("regular1", "Started"), 0);
}

/// A sidecar failing liveness is restarted under every policy; the main container runs on
/// (T117–T119 without the image update).
async fn sidecar_liveness_failure(policy: RestartPolicy) {
    let plan = pod(policy, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let plan = with(plan, "ri2", |c| c.liveness_probe = Some(probe(10, 1, 1)));
    let r = Scenario::new(plan)
        .handler("ri2", HandlerKind::Liveness, fail)
        .until(100 * S)
        .run()
        .await;
    assert!(r.restarts("ri2") >= 2);
    assert!(!r.doesnt_start("regular1") && !r.has_restarted("regular1"));
    assert!(!r.has_restarted("ri1"));
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "current_thread")]
async fn t117_a_sidecar_failing_liveness_restarts_under_never() {
    sidecar_liveness_failure(Never).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t118_a_sidecar_failing_liveness_restarts_under_onfailure() {
    sidecar_liveness_failure(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t119_a_sidecar_failing_liveness_restarts_under_always() {
    sidecar_liveness_failure(Always).await;
}

// ---- §7.A: termination with sidecars ---------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn t120_sidecars_terminate_in_reverse_order() {
    let plan = pod(
        Always,
        30,
        &["sidecar:s1", "sidecar:s2", "sidecar:s3", "app"],
    );
    let slow = serve().term_after(S);
    let r = Scenario::new(plan)
        .script("s1", vec![slow.clone()])
        .script("s2", vec![slow.clone()])
        .script("s3", vec![slow.clone()])
        .script("app", vec![slow])
        .delete_at(5 * S, None)
        .run()
        .await;
    assert!(
        r.starts_before("s1", "s2") && r.starts_before("s2", "s3") && r.starts_before("s3", "app")
    );
    assert!(
        r.exits_before("app", "s3") && r.exits_before("s3", "s2") && r.exits_before("s2", "s1")
    );
    assert!(r.first("app", "Exiting") <= r.first("s3", "SIGTERM"));
    assert_eq!(r.events(EventReason::Killing).len(), 4);
}

/// U-T1..U-T3: each container takes 1.25 s to exit after its turn; the sidecars' turns come at
/// 1.25 s steps, bounded by the grace period, after which each gets the 2 s minimum.
async fn termination_ordering(grace: i64) -> Run {
    let plan = pod(
        Always,
        grace,
        &["sidecar:sc1", "sidecar:sc2", "sidecar:sc3", "main"],
    );
    let slow = serve()
        .term_after(1250 * MS)
        .ignoring_term()
        .term_after(1250 * MS);
    Scenario::new(plan)
        .script("sc1", vec![slow.clone()])
        .script("sc2", vec![slow.clone()])
        .script("sc3", vec![slow.clone()])
        .script("main", vec![slow])
        .delete_at(S, None)
        .run()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn u_t1_u_t2_sidecars_wait_for_main_then_for_later_sidecars() {
    let r = termination_ordering(30).await;
    assert_near(r.first("main", "SIGTERM"), 1000);
    assert_near(r.first("sc3", "SIGTERM"), 2250);
    assert_near(r.first("sc2", "SIGTERM"), 3500);
    assert_near(r.first("sc1", "SIGTERM"), 4750);
    assert!(r.at("sc1", "SIGKILL").is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn u_t3_the_grace_period_bounds_the_wait_for_a_turn() {
    let r = termination_ordering(2).await;
    assert_near(r.first("main", "SIGTERM"), 1000);
    assert_near(r.first("sc3", "SIGTERM"), 2250);
    // The 2 s budget is spent at 3 s: sc2 and sc1 get their signal together, with 2 s to go.
    assert_near(r.first("sc2", "SIGTERM"), 3000);
    assert_near(r.first("sc1", "SIGTERM"), 3000);
}

#[tokio::test(flavor = "current_thread")]
async fn t124_prestop_hooks_that_never_exit_get_the_grace_period_plus_two_seconds() {
    let mut plan = pod(
        Never,
        30,
        &["sidecar:ri1", "sidecar:ri2", "sidecar:ri3", "regular1"],
    );
    for c in plan.init_containers.iter_mut() {
        c.pre_stop = Some(exec());
    }
    let mut sc = Scenario::new(plan).script("regular1", vec![exits(5 * S, 0)]);
    for n in ["ri1", "ri2", "ri3"] {
        sc = sc.script(n, vec![serve().ignoring_term()]).handler(
            n,
            HandlerKind::PreStop,
            |_, _, _| HandlerScript::forever(),
        );
    }
    let r = sc.run().await;
    for n in ["ri1", "ri2", "ri3"] {
        let hook = format!("PreStop-{n}");
        assert_near(r.first(&hook, "Started"), 5000);
        assert_near(
            r.first(&hook, "Exiting") - r.first(&hook, "Started"),
            32_000,
        );
        let t = r
            .container(n)
            .state
            .and_then(|s| s.terminated)
            .expect("terminated");
        assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("Error")));
    }
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

#[tokio::test(flavor = "current_thread")]
async fn t125_prestop_hooks_of_all_containers_start_together() {
    let mut plan = pod(
        Always,
        30,
        &["sidecar:ri1", "sidecar:ri2", "regular1", "regular2"],
    );
    for c in plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
    {
        c.pre_stop = Some(exec());
    }
    let mut sc = Scenario::new(plan).delete_at(3 * S, None);
    for n in ["ri1", "ri2", "regular1", "regular2"] {
        sc = sc.handler(n, HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(S)
        });
    }
    let r = sc.run().await;
    for n in ["ri1", "ri2", "regular1", "regular2"] {
        assert_near(r.first(&format!("PreStop-{n}"), "Started"), 3000);
    }
    // Sidecars get their signal only after their preStop and the main containers.
    assert!(r.first("regular1", "Exiting") <= r.first("ri2", "SIGTERM"));
}

#[tokio::test(flavor = "current_thread")]
async fn t126_termination_during_initialization_does_not_hang() {
    let mut plan = pod(
        Never,
        30,
        &[
            "sidecar:ri1",
            "sidecar:ri2",
            "sidecar:ri3",
            "init:start",
            "regular1",
        ],
    );
    for c in plan.init_containers.iter_mut().take(3) {
        c.pre_stop = Some(exec());
    }
    let mut sc = Scenario::new(plan)
        .script("start", vec![exits(300 * S, 0)])
        .delete_at(5 * S, Some(3 * S));
    for n in ["ri1", "ri2", "ri3"] {
        sc = sc.script(n, vec![serve().term_after(5 * S)]).handler(
            n,
            HandlerKind::PreStop,
            |_, _, _| HandlerScript::ok().taking(S),
        );
    }
    let r = sc.run().await;
    assert!(r.outcome.is_some());
    let ended = r
        .marks
        .iter()
        .map(|m| (m.at - r.t0).as_millis() as u64)
        .max();
    assert!(ended.is_some_and(|t| t < 11_000), "{ended:?}");
    assert!(r.doesnt_start("regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t127_a_sidecar_that_never_started_does_not_block_termination() {
    let plan = pod(
        Never,
        180,
        &["init:init1", "sidecar:ri2", "sidecar:ri3", "regular1"],
    );
    let plan = with(plan, "ri2", |c| c.startup_probe = Some(probe(0, 1, 600)));
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("ri2", vec![serve().term_after(S)])
        .handler("ri2", HandlerKind::Startup, fail)
        .delete_at(10 * S, None)
        .run()
        .await;
    assert!(r.outcome.is_some());
    assert!(r.last("ri2", "Exiting") < 12_000);
    assert!(r.doesnt_start("ri3") && r.doesnt_start("regular1"));
}

#[tokio::test(flavor = "current_thread")]
async fn t128_a_sidecar_exiting_1_on_sigterm_leaves_the_pod_succeeded() {
    let plan = pod(
        Never,
        30,
        &["sidecar:ri1", "sidecar:ri2", "sidecar:ri3", "regular1"],
    );
    let r = Scenario::new(plan)
        .script("ri2", vec![serve().term_code(1)])
        .script("regular1", vec![exits(2 * S, 0)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    let t = r
        .container("ri2")
        .state
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!((t.exit_code, t.reason.as_deref()), (1, Some("Error")));
}

#[tokio::test(flavor = "current_thread")]
async fn t129_a_failing_prestop_hook_does_not_change_exit_codes() {
    let plan = pod(
        Never,
        30,
        &["sidecar:ri1", "sidecar:ri2", "sidecar:ri3", "regular1"],
    );
    let plan = with(plan, "ri2", |c| c.pre_stop = Some(exec()));
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(2 * S, 0)])
        .handler("ri2", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::fail().taking(S)
        })
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    for n in ["ri1", "ri2", "ri3"] {
        let t = r
            .container(n)
            .state
            .and_then(|s| s.terminated)
            .expect("terminated");
        assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    }
    assert_eq!(r.events(EventReason::FailedPreStopHook).len(), 1);
}

/// T130–T133: TGPS 5, deleted at 1 s; `term` is how long each takes after SIGTERM (20 s means it
/// is SIGKILLed), `pre` its preStop duration. Returns the exit codes of ri1..3 and regular1.
async fn grace_exhaustion(term: [u32; 4], pre: [u32; 4]) -> (PodPhase, Vec<i32>) {
    let names = ["ri1", "ri2", "ri3", "regular1"];
    let mut plan = pod(
        Never,
        5,
        &["sidecar:ri1", "sidecar:ri2", "sidecar:ri3", "regular1"],
    );
    for (i, c) in plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
        .enumerate()
    {
        if pre[i] > 0 {
            c.pre_stop = Some(exec());
        }
    }
    let mut sc = Scenario::new(plan).delete_at(S, None);
    for (i, n) in names.iter().enumerate() {
        sc = sc.script(n, vec![serve().term_after(term[i] * S)]);
        let d = pre[i];
        sc = sc.handler(n, HandlerKind::PreStop, move |_, _, _| {
            HandlerScript::ok().taking(d * S)
        });
    }
    let r = sc.run().await;
    let codes = names
        .iter()
        .map(|n| {
            r.container(n)
                .state
                .and_then(|s| s.terminated)
                .map_or(-1, |t| t.exit_code)
        })
        .collect();
    (r.phase(), codes)
}

#[tokio::test(flavor = "current_thread")]
async fn t130_a_main_container_using_the_whole_grace_leaves_sidecars_two_seconds() {
    let (phase, codes) = grace_exhaustion([20, 1, 20, 20], [0; 4]).await;
    assert_eq!(phase, PodPhase::Failed);
    assert_eq!(codes, vec![137, 0, 137, 137]);
}

#[tokio::test(flavor = "current_thread")]
async fn t131_a_slow_sidecar_is_killed_and_the_pod_still_succeeds() {
    let (phase, codes) = grace_exhaustion([1, 20, 1, 1], [0; 4]).await;
    assert_eq!(phase, PodPhase::Succeeded);
    assert_eq!(codes, vec![0, 137, 0, 0]);
}

#[tokio::test(flavor = "current_thread")]
async fn t132_a_main_prestop_exceeding_the_grace_fails_the_pod() {
    let (phase, codes) = grace_exhaustion([1, 20, 1, 20], [0, 0, 0, 20]).await;
    assert_eq!(phase, PodPhase::Failed);
    assert_eq!(codes, vec![0, 137, 0, 137]);
}

#[tokio::test(flavor = "current_thread")]
async fn t133_a_sidecar_prestop_exceeding_the_grace_leaves_the_pod_succeeded() {
    let (phase, codes) = grace_exhaustion([1, 20, 1, 1], [1, 30, 1, 0]).await;
    assert_eq!(phase, PodPhase::Succeeded);
    assert_eq!(codes, vec![0, 137, 0, 0]);
}

#[tokio::test(flavor = "current_thread")]
async fn t134_a_sidecar_recovering_from_a_crash_lets_the_regular_container_start() {
    let plan = pod(Never, 30, &["sidecar:sidecar", "regular"]);
    let plan = with(plan, "sidecar", |c| c.startup_probe = Some(probe(3, 2, 10)));
    let plan = with(plan, "regular", |c| c.startup_probe = Some(probe(5, 5, 3)));
    let r = Scenario::new(plan)
        .script("sidecar", vec![exits(S, 1), serve()])
        .until(120 * S)
        .run()
        .await;
    assert!(r.restarts("sidecar") > 0);
    assert!(r.last("sidecar", "Started") <= r.first("regular", "Starting"));
    assert_eq!(r.container("regular").started, Some(true));
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

// ---- §7.C lifecycle hooks ----------------------------------------------------------------------

async fn hooks_on(container: &str, spec: &[&str]) -> Run {
    let plan = pod(Always, 15, spec);
    let plan = with(plan, container, |c| {
        c.post_start = Some(exec());
        c.pre_stop = Some(exec());
    });
    Scenario::new(plan)
        .handler(container, HandlerKind::PostStart, |_, _, _| {
            HandlerScript::ok().taking(S)
        })
        .delete_at(5 * S, None)
        .run()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn t160_t161_poststart_and_prestop_exec_hooks_run_on_a_main_container() {
    let r = hooks_on("app", &["app"]).await;
    assert_eq!(r.rt_calls("app", HandlerKind::PostStart), 1);
    assert_eq!(r.rt_calls("app", HandlerKind::PreStop), 1);
    assert!(r.run_together("app", "PostStart-app"));
    assert_near(r.first("PreStop-app", "Started"), 5000);
    assert!(r.first("PreStop-app", "Exiting") <= r.first("app", "SIGTERM"));
}

#[tokio::test(flavor = "current_thread")]
async fn t166_t167_poststart_and_prestop_exec_hooks_run_on_a_sidecar() {
    let r = hooks_on("ri", &["sidecar:ri", "app"]).await;
    assert_eq!(r.rt_calls("ri", HandlerKind::PostStart), 1);
    assert_eq!(r.rt_calls("ri", HandlerKind::PreStop), 1);
    // The sidecar is started only once its postStart returned.
    assert!(r.first("PostStart-ri", "Exiting") <= r.first("app", "Starting"));
    assert!(r.first("PreStop-ri", "Started") <= r.first("ri", "SIGTERM"));
}

#[tokio::test(flavor = "current_thread")]
async fn t_hook_a_failed_poststart_kills_and_restarts_the_container() {
    let plan = pod(Always, 30, &["app"]);
    let plan = with(plan, "app", |c| c.post_start = Some(exec()));
    let r = Scenario::new(plan)
        .handler("app", HandlerKind::PostStart, |attempt, _, _| {
            if attempt == 0 {
                HandlerScript::fail()
            } else {
                HandlerScript::ok()
            }
        })
        .script("app", vec![serve()])
        .until(20 * S)
        .run()
        .await;
    let failed = r.events(EventReason::FailedPostStartHook);
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0].message,
        "PostStartHook failed: Exec lifecycle hook ([sh -c true]) for Container \"app\" in Pod \"p\" failed - error: exit status 1"
    );
    assert_eq!(r.restarts("app"), 1);
    assert!(r.events(EventReason::Killing)[0]
        .message
        .contains("FailedPostStartHook"));
}

async fn sleep_prestop(seconds: i64, delete_grace: Option<Duration>) -> Run {
    let plan = pod(Always, 100, &["app"]);
    let plan = with(plan, "app", |c| {
        c.pre_stop = Some(Handler::Sleep { seconds })
    });
    Scenario::new(plan).delete_at(S, delete_grace).run().await
}

#[tokio::test(flavor = "current_thread")]
async fn t172_a_sleep_prestop_holds_the_container() {
    let r = sleep_prestop(50, None).await;
    assert_near(r.first("app", "SIGTERM"), 51_000);
}

#[tokio::test(flavor = "current_thread")]
async fn t173_a_shorter_delete_grace_cuts_a_sleep_prestop() {
    let r = sleep_prestop(50, Some(30 * S)).await;
    assert_near(r.first("app", "SIGTERM"), 31_000);
}

#[tokio::test(flavor = "current_thread")]
async fn t174_prestop_is_not_called_when_the_container_exits_by_itself() {
    let plan = pod(Never, 30, &["app"]);
    let plan = with(plan, "app", |c| c.pre_stop = Some(exec()));
    let r = Scenario::new(plan)
        .script("app", vec![exits(3 * S, 0)])
        .handler("app", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(10 * S)
        })
        .run()
        .await;
    assert!(r.doesnt_start("PreStop-app"));
    assert_near(r.first("app", "Exiting"), 3000);
}

#[tokio::test(flavor = "current_thread")]
async fn t175_a_zero_second_sleep_prestop_stops_at_once() {
    let r = sleep_prestop(0, None).await;
    assert_near(r.first("app", "SIGTERM"), 1000);
}

// ---- §7.D init containers --------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn t177_init_containers_on_a_never_pod() {
    let plan = pod(Never, 30, &["init:init1", "init:init2", "run1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(Duration::ZERO, 0)])
        .script("init2", vec![exits(Duration::ZERO, 0)])
        .script("run1", vec![exits(Duration::ZERO, 0)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert!(condition(&r.status(), "Initialized"));
    for n in ["init1", "init2"] {
        let c = r.container(n);
        assert!(c.ready);
        assert_eq!(
            c.state.and_then(|s| s.terminated).map(|t| t.exit_code),
            Some(0)
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn t178_init_containers_on_an_always_pod() {
    let plan = pod(Always, 30, &["init:init1", "init:init2", "run1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(Duration::ZERO, 0)])
        .script("init2", vec![exits(Duration::ZERO, 0)])
        .until(10 * S)
        .run()
        .await;
    let s = r.status();
    assert_eq!(s.phase.as_deref(), Some("Running"));
    assert!(condition(&s, "Initialized") && condition(&s, "Ready"));
    assert!(r.container("init1").ready && r.container("init2").ready);
}

#[tokio::test(flavor = "current_thread")]
async fn t179_failing_init_containers_keep_app_containers_waiting_under_always() {
    let plan = pod(Always, 30, &["init:init1", "init:init2", "run1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(Duration::ZERO, 1)])
        .until(100 * S)
        .run()
        .await;
    let s = r.status();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    for n in ["init2", "run1"] {
        let w = r
            .container(n)
            .state
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason);
        assert_eq!(w.as_deref(), Some("PodInitializing"), "{n}");
        assert_eq!(r.restarts(n), 0);
    }
    assert!(r.restarts("init1") >= 3);
    assert!(r
        .container("init1")
        .last_state
        .and_then(|l| l.terminated)
        .is_some());
    let init = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Initialized")
        .cloned()
        .expect("Initialized");
    assert_eq!(init.status, "False");
    assert_eq!(init.reason.as_deref(), Some("ContainersNotInitialized"));
    assert_eq!(
        init.message.as_deref(),
        Some("containers with incomplete status: [init1 init2]")
    );
    // The Initialized condition never flips to True.
    assert!(r
        .statuses()
        .iter()
        .all(|(_, s)| !condition(s, "Initialized")));
}

#[tokio::test(flavor = "current_thread")]
async fn t180_a_failing_init_container_fails_a_never_pod() {
    let plan = pod(Never, 30, &["init:init1", "init:init2", "run1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(Duration::ZERO, 0)])
        .script("init2", vec![exits(Duration::ZERO, 1)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    let s = r.status();
    let init = s
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "Initialized")
        .cloned()
        .expect("Initialized");
    assert_eq!(
        init.message.as_deref(),
        Some("containers with incomplete status: [init2]")
    );
    assert!(r.container("run1").state.and_then(|s| s.waiting).is_some());
    assert_eq!(
        r.container("init2")
            .state
            .and_then(|s| s.terminated)
            .map(|t| t.exit_code),
        Some(1)
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t245_a_finished_onfailure_pod_is_not_restarted() {
    let plan = pod(OnFailure, 30, &["init:init1", "main"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(Duration::ZERO, 0)])
        .script("main", vec![exits(Duration::ZERO, 0)])
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert_eq!((r.starts("init1"), r.starts("main")), (1, 1));
}

#[tokio::test(flavor = "current_thread")]
async fn t230_crash_loop_backoff_follows_the_kubelet_timing() {
    let plan = pod(Always, 30, &["app"]);
    let r = Scenario::new(plan)
        .script("app", vec![exits(Duration::ZERO, 1)])
        .until(320 * S)
        .run()
        .await;
    let starts: Vec<u64> = r.at("app", "Starting").iter().map(|ms| ms / 1000).collect();
    assert_eq!(starts[..7], [0, 0, 10, 30, 70, 150, 310]);
    assert!(r.events(EventReason::BackOff).len() >= 5);
    let w = r.statuses().into_iter().find_map(|(_, s)| {
        container_of(&s, "app")
            .state
            .and_then(|s| s.waiting)
            .filter(|w| w.reason.as_deref() == Some("CrashLoopBackOff"))
    });
    assert_eq!(
        w.and_then(|w| w.message).as_deref(),
        Some("back-off 10s restarting failed container=app pod=p")
    );
}

// ---- §7.E probes, on a main container (T181–T203) and on a sidecar (T204–T226) ---------------

/// The probed container `c` alone (main), or as a sidecar next to a main `app`.
fn probed(sidecar: bool, grace: i64) -> PodPlan {
    if sidecar {
        pod(Always, grace, &["sidecar:c", "app"])
    } else {
        pod(Always, grace, &["c"])
    }
}

fn ready_at(r: &Run) -> Option<u64> {
    r.statuses()
        .into_iter()
        .find(|(_, s)| condition(s, "Ready"))
        .map(|(t, _)| t)
}

async fn readiness_initial_delay(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.readiness_probe = Some(probe(15, 1, 3))
    });
    let r = Scenario::new(plan).until(30 * S).run().await;
    assert_near(ready_at(&r).expect("ready"), 15_000);
    assert_eq!(r.restarts("c"), 0);
}

/// KEP-3619: once an instance exists, its status names the ids the runtime gave it.
#[tokio::test(flavor = "current_thread")]
async fn container_status_reports_the_user_the_runtime_resolved() {
    let plan = with(pod(Never, 30, &["app"]), "app", |c| {
        c.security.run_as_user = Some(1000);
        c.security.run_as_group = Some(3000);
    });
    let r = Scenario::new(plan)
        .script("app", vec![exits(5 * S, 0)])
        .until(10 * S)
        .run()
        .await;
    let linux = r
        .container("app")
        .user
        .and_then(|u| u.linux)
        .expect("status.user.linux");
    assert_eq!((linux.uid, linux.gid), (1000, 3000));
    // Before the first instance exists there is nothing to report.
    let first = r.statuses().into_iter().next().expect("a status");
    assert!(container_of(&first.1, "app").user.is_none());
}

/// §3.6: a probe run that cannot be carried out (an error, not a failure) is tried up to three
/// times within the same period (`maxProbeRetries`): two errors and then a success make the
/// first period's result a success.
#[tokio::test(flavor = "current_thread")]
async fn a_probe_that_errors_is_retried_within_its_period() {
    let plan = with(probed(false, 30), "c", |c| {
        c.readiness_probe = Some(probe(0, 20, 3))
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Readiness, |_, n, _| HandlerScript {
            takes: Some(Duration::ZERO),
            result: if n < 2 {
                HandlerResult::Error("could not enter the container".into())
            } else {
                HandlerResult::Success
            },
        })
        .until(10 * S)
        .run()
        .await;
    let ready = ready_at(&r).expect("ready in the first period");
    assert!(ready < 1000, "ready at {ready} ms");
    assert_eq!(r.rt_calls("c", HandlerKind::Readiness), 3);
}

#[tokio::test(flavor = "current_thread")]
async fn t181_readiness_waits_for_the_initial_delay() {
    readiness_initial_delay(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t204_sidecar_readiness_initial_delay_gates_pod_readiness() {
    readiness_initial_delay(true).await;
}

async fn failing_readiness(sidecar: bool, timeout: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.readiness_probe = Some(probe(0, 1, 1))
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Readiness, move |_, _, _| {
            if timeout {
                HandlerScript::ok().taking(10 * S)
            } else {
                HandlerScript::fail()
            }
        })
        .until(60 * S)
        .run()
        .await;
    assert!(!r.ever_ready());
    assert_eq!(r.restarts("c"), 0);
    assert!(!r.container("c").ready);
    let unhealthy = r.events(EventReason::Unhealthy);
    assert!(unhealthy.len() > 10);
    assert!(unhealthy[0].message.starts_with("Readiness probe failed: "));
}

#[tokio::test(flavor = "current_thread")]
async fn t182_failing_readiness_is_never_ready_and_never_restarts() {
    failing_readiness(false, false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t190_an_exec_readiness_timeout_keeps_the_pod_unready() {
    failing_readiness(false, true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t205_a_never_ready_sidecar_keeps_the_pod_not_ready() {
    failing_readiness(true, false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t213_a_sidecar_exec_readiness_timeout_keeps_the_pod_unready() {
    failing_readiness(true, true).await;
}

/// Liveness fails once the container has run 10 s (`cat /tmp/health` after the file is gone);
/// initialDelay 15, failureThreshold 1.
async fn liveness_restart(sidecar: bool, healthy: bool) -> Run {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.liveness_probe = Some(probe(15, 10, 1))
    });
    Scenario::new(plan)
        .handler("c", HandlerKind::Liveness, move |_, _, up| {
            if !healthy && up >= 10 * S {
                HandlerScript::fail()
            } else {
                HandlerScript::ok()
            }
        })
        .until(40 * S)
        .run()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn t183_an_exec_liveness_failure_restarts_the_container() {
    let r = liveness_restart(false, false).await;
    assert_eq!(r.restarts("c"), 1);
    assert_eq!(
        r.events(EventReason::Killing)[0].message,
        "Container c failed liveness probe, will be restarted"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t184_a_passing_exec_liveness_never_restarts() {
    let r = liveness_restart(false, true).await;
    assert_eq!(r.restarts("c"), 0);
    assert!(r.rt_calls("c", HandlerKind::Liveness) >= 3);
}

#[tokio::test(flavor = "current_thread")]
async fn t206_a_sidecar_exec_liveness_failure_restarts_the_sidecar() {
    let r = liveness_restart(true, false).await;
    assert_eq!(r.restarts("c"), 1);
    assert_eq!(r.restarts("app"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn t207_a_passing_sidecar_liveness_never_restarts() {
    let r = liveness_restart(true, true).await;
    assert_eq!(r.restarts("c"), 0);
}

async fn monotonic_restarts(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.liveness_probe = Some(probe(5, 1, 1))
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Liveness, fail)
        .until(300 * S)
        .run()
        .await;
    let counts: Vec<i32> = r
        .statuses()
        .iter()
        .map(|(_, s)| container_of(s, "c").restart_count)
        .collect();
    assert!(counts.windows(2).all(|w| w[0] <= w[1]));
    assert!(r.restarts("c") >= 5);
}

#[tokio::test(flavor = "current_thread")]
async fn t187_restart_count_increases_monotonically() {
    monotonic_restarts(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t210_sidecar_restart_count_increases_monotonically() {
    monotonic_restarts(true).await;
}

async fn exec_timeout_restarts(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.liveness_probe = Some(probe(1, 5, 1))
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Liveness, |_, _, _| {
            HandlerScript::ok().taking(10 * S)
        })
        .until(20 * S)
        .run()
        .await;
    assert!(r.restarts("c") >= 1);
    let u = &r.events(EventReason::Unhealthy)[0];
    assert!(u.message.contains("timed out"), "{}", u.message);
}

#[tokio::test(flavor = "current_thread")]
async fn t189_an_exec_liveness_timeout_restarts_the_container() {
    exec_timeout_restarts(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t212_a_sidecar_exec_liveness_timeout_restarts_the_sidecar() {
    exec_timeout_restarts(true).await;
}

async fn redirect_warning(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.liveness_probe = Some(probe(1, 1, 1))
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Liveness, |_, _, _| HandlerScript {
            takes: Some(Duration::ZERO),
            result: HandlerResult::Warning(
                "Probe terminated redirects, Response body: <a href=\"http://0.0.0.0/\">Found</a>."
                    .into(),
            ),
        })
        .until(20 * S)
        .run()
        .await;
    assert_eq!(r.restarts("c"), 0);
    let w = r.events(EventReason::ProbeWarning);
    assert!(w[0].message.contains(
        "Probe terminated redirects, Response body: <a href=\"http://0.0.0.0/\">Found</a>."
    ));
}

#[tokio::test(flavor = "current_thread")]
async fn t193_a_redirect_to_another_host_warns_and_does_not_restart() {
    redirect_warning(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t216_a_sidecar_redirect_to_another_host_warns_and_does_not_restart() {
    redirect_warning(true).await;
}

async fn startup_failure_restarts(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.startup_probe = Some(probe(15, 1, 3));
        c.liveness_probe = Some(probe(0, 1, 1));
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Startup, fail)
        .until(30 * S)
        .run()
        .await;
    assert!(r.restarts("c") >= 1);
    assert_eq!(r.rt_calls("c", HandlerKind::Liveness), 0);
    // The first kill comes after initialDelay plus three failures.
    assert_near(r.first("c", "SIGTERM"), 17_000);
}

#[tokio::test(flavor = "current_thread")]
async fn t194_a_failing_startup_probe_restarts_the_container() {
    startup_failure_restarts(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t217_a_failing_sidecar_startup_probe_restarts_the_sidecar() {
    startup_failure_restarts(true).await;
}

async fn startup_delays_liveness(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.startup_probe = Some(probe(0, 1, 60));
        c.liveness_probe = Some(probe(0, 1, 1));
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Startup, fail)
        .handler("c", HandlerKind::Liveness, fail)
        .until(55 * S)
        .run()
        .await;
    assert_eq!(r.restarts("c"), 0);
    assert_eq!(r.rt_calls("c", HandlerKind::Liveness), 0);
    assert_eq!(r.container("c").started, Some(false));
}

#[tokio::test(flavor = "current_thread")]
async fn t195_the_startup_probe_delays_liveness() {
    startup_delays_liveness(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t218_a_sidecar_startup_probe_delays_liveness() {
    startup_delays_liveness(true).await;
}

async fn liveness_after_startup(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.startup_probe = Some(probe(0, 1, 60));
        c.liveness_probe = Some(probe(0, 1, 1));
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Startup, |_, _, up| {
            if up >= 10 * S {
                HandlerScript::ok()
            } else {
                HandlerScript::fail()
            }
        })
        .handler("c", HandlerKind::Liveness, fail)
        .until(25 * S)
        .run()
        .await;
    assert!(r.restarts("c") >= 1);
    assert!(r.first("Liveness-c", "Started") >= 10_000);
}

#[tokio::test(flavor = "current_thread")]
async fn t196_liveness_runs_once_the_startup_probe_succeeded() {
    liveness_after_startup(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t219_sidecar_liveness_runs_once_its_startup_probe_succeeded() {
    liveness_after_startup(true).await;
}

async fn ready_after_startup(sidecar: bool) {
    let plan = with(probed(sidecar, 30), "c", |c| {
        c.startup_probe = Some(probe(0, 5, 120));
        c.readiness_probe = Some(probe(0, 30, 3));
    });
    let r = Scenario::new(plan)
        .handler("c", HandlerKind::Startup, |_, _, up| {
            if up >= 32 * S {
                HandlerScript::ok()
            } else {
                HandlerScript::fail()
            }
        })
        .until(60 * S)
        .run()
        .await;
    // Startup succeeds at 35 s; readiness runs at once instead of waiting its 30 s period.
    assert_near(ready_at(&r).expect("ready"), 35_000);
}

#[tokio::test(flavor = "current_thread")]
async fn t197_ready_right_after_the_startup_probe_succeeds() {
    ready_after_startup(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t220_a_sidecar_is_ready_right_after_its_startup_probe_succeeds() {
    ready_after_startup(true).await;
}

async fn probe_grace_override(sidecar: bool, startup: bool) {
    let plan = with(probed(sidecar, 500), "c", |c| {
        let mut p = probe(10, 1, 1);
        p.termination_grace_period_seconds = Some(5);
        if startup {
            c.startup_probe = Some(p);
        } else {
            c.liveness_probe = Some(p);
        }
    });
    let kind = if startup {
        HandlerKind::Startup
    } else {
        HandlerKind::Liveness
    };
    let r = Scenario::new(plan)
        .script("c", vec![serve().ignoring_term()])
        .handler("c", kind, fail)
        .until(40 * S)
        .run()
        .await;
    assert_near(r.first("c", "SIGTERM"), 10_000);
    assert_near(r.first("c", "SIGKILL"), 15_000);
    assert!(r.restarts("c") >= 1);
}

#[tokio::test(flavor = "current_thread")]
async fn t198_the_liveness_probe_grace_period_overrides_the_pods() {
    probe_grace_override(false, false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t199_the_startup_probe_grace_period_overrides_the_pods() {
    probe_grace_override(false, true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t221_a_sidecar_liveness_probe_grace_period_overrides_the_pods() {
    probe_grace_override(true, false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t222_a_sidecar_startup_probe_grace_period_overrides_the_pods() {
    probe_grace_override(true, true).await;
}

/// A gRPC liveness probe whose health checks return `result` (what the runtime's gRPC client
/// reports: SERVING is a success, anything else a failure with the kubelet's message).
async fn grpc_liveness(result: HandlerResult) -> Run {
    let plan = with(probed(false, 30), "c", |c| {
        let mut p = probe(0, 1, 1);
        p.handler = Handler::Grpc {
            port: 2333,
            service: None,
        };
        c.liveness_probe = Some(p);
    });
    Scenario::new(plan)
        .handler("c", HandlerKind::Liveness, move |_, _, _| HandlerScript {
            takes: Some(Duration::ZERO),
            result: result.clone(),
        })
        .until(10 * S)
        .run()
        .await
}

#[tokio::test(flavor = "current_thread")]
async fn t200_a_serving_grpc_liveness_probe_does_not_restart() {
    let r = grpc_liveness(HandlerResult::Success).await;
    assert_eq!(r.restarts("c"), 0);
    assert!(r.events(EventReason::Unhealthy).is_empty());
    assert!(r.events(EventReason::ProbeWarning).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn t201_a_failing_grpc_liveness_probe_restarts() {
    let msg = "timeout: failed to connect service \"127.0.0.1:2333\" within 1s: dial tcp 127.0.0.1:2333: connect: Connection refused (os error 111)";
    let r = grpc_liveness(HandlerResult::Failure(msg.into())).await;
    assert!(r.restarts("c") >= 1, "restarts {}", r.restarts("c"));
    let unhealthy = r.events(EventReason::Unhealthy);
    assert_eq!(
        unhealthy[0].message,
        format!("Liveness probe failed: {msg}")
    );
    assert!(r
        .events(EventReason::Killing)
        .iter()
        .any(|e| e.message.contains("failed liveness probe")));
    assert!(r.events(EventReason::ProbeWarning).is_empty());
}

/// Readiness fails once the container got SIGTERM (its handler removed /tmp/ready); liveness
/// would fail too but must not run while the pod terminates.
async fn not_ready_while_terminating(sidecar: bool) {
    let plan = with(probed(sidecar, 100), "c", |c| {
        c.readiness_probe = Some(probe(0, 2, 1));
        c.liveness_probe = Some(probe(0, 1, 1));
    });
    let after_delete = |_: u32, _: u32, up: Duration| {
        if up >= 10 * S {
            HandlerScript::fail()
        } else {
            HandlerScript::ok()
        }
    };
    let r = Scenario::new(plan)
        .script("c", vec![serve().term_after(30 * S)])
        .script("app", vec![serve().term_after(30 * S)])
        .handler("c", HandlerKind::Readiness, after_delete)
        .handler("c", HandlerKind::Liveness, after_delete)
        .delete_at(9500 * MS, None)
        .run()
        .await;
    assert!(ready_at(&r).is_some_and(|t| t < 9500));
    let unready_while_running = r.statuses().into_iter().any(|(t, s)| {
        t > 9500
            && !condition(&s, "Ready")
            && container_of(&s, "c")
                .state
                .and_then(|s| s.running)
                .is_some()
    });
    assert!(unready_while_running);
    assert!(r.at("Liveness-c", "Started").iter().all(|t| *t < 9500));
    assert!(r
        .events(EventReason::Killing)
        .iter()
        .all(|e| !e.message.contains("liveness")));
}

#[tokio::test(flavor = "current_thread")]
async fn t202_t203_not_ready_and_no_liveness_while_terminating() {
    not_ready_while_terminating(false).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t225_t226_sidecar_not_ready_and_no_liveness_while_terminating() {
    not_ready_while_terminating(true).await;
}

#[tokio::test(flavor = "current_thread")]
async fn a_failed_image_pull_waits_as_image_pull_back_off_with_events() {
    let plan = pod(Always, 30, &["app"]);
    let r = Scenario::new(plan)
        .script(
            "app",
            vec![Behavior::start_error(StartFailure::ErrImagePull)],
        )
        .until(100 * S)
        .run()
        .await;
    assert!(r.doesnt_start("app"));
    let reasons: Vec<String> = r
        .statuses()
        .into_iter()
        .filter_map(|(_, s)| container_of(&s, "app").state.and_then(|s| s.waiting))
        .filter_map(|w| w.reason)
        .collect();
    assert!(
        reasons.iter().any(|r| r == "ImagePullBackOff"),
        "{reasons:?}"
    );
    assert!(
        !reasons.iter().any(|r| r == "CrashLoopBackOff"),
        "{reasons:?}"
    );
    let backoff = r.events(EventReason::BackOff);
    assert!(!backoff.is_empty());
    assert!(
        backoff[0].message.starts_with("Back-off pulling image"),
        "{}",
        backoff[0].message
    );
    let failed = r.events(EventReason::Failed);
    assert!(failed.len() >= 2, "each failed pull is an event");
    assert!(
        failed[0].message.contains("ErrImagePull"),
        "{}",
        failed[0].message
    );
}

/// §1.5: a pull that fails makes no container: no restart is counted, there is no terminated
/// state, and the retries follow the image back-off (10 s doubling), showing ErrImagePull and
/// then ImagePullBackOff.
#[tokio::test(flavor = "current_thread")]
async fn a_failed_pull_counts_no_restart_and_retries_with_the_image_back_off() {
    let plan = pod(Always, 30, &["app"]);
    let r = Scenario::new(plan)
        .script(
            "app",
            vec![Behavior::start_error(StartFailure::ErrImagePull)],
        )
        .until(100 * S)
        .run()
        .await;
    let tries = r.at("app", "Starting");
    let secs: Vec<u64> = tries.iter().map(|ms| (ms + 500) / 1000).collect();
    assert_eq!(secs, [0, 10, 30, 70], "{tries:?}");
    for (_, st) in r.statuses() {
        let c = container_of(&st, "app");
        assert_eq!(c.restart_count, 0);
        assert!(c.last_state.and_then(|l| l.terminated).is_none());
    }
    let reasons: Vec<String> = r
        .statuses()
        .into_iter()
        .filter_map(|(_, s)| container_of(&s, "app").state.and_then(|s| s.waiting))
        .filter_map(|w| w.reason)
        .collect();
    let first_pull_error = reasons.iter().position(|r| r == "ErrImagePull");
    let first_back_off = reasons.iter().position(|r| r == "ImagePullBackOff");
    assert!(
        first_pull_error.is_some() && first_pull_error < first_back_off,
        "{reasons:?}"
    );
}

/// §1.5: a container whose config cannot be built is retried on each pod sync (about 10 s)
/// without back-off growth, keeps CreateContainerConfigError as its reason and counts no restart.
#[tokio::test(flavor = "current_thread")]
async fn a_config_error_is_retried_every_sync_and_keeps_its_reason() {
    let plan = pod(Never, 30, &["app"]);
    let r = Scenario::new(plan)
        .script(
            "app",
            vec![Behavior::start_error(
                StartFailure::CreateContainerConfigError,
            )],
        )
        .until(45 * S)
        .run()
        .await;
    let secs: Vec<u64> = r
        .at("app", "Starting")
        .iter()
        .map(|ms| (ms + 500) / 1000)
        .collect();
    assert_eq!(secs, [0, 10, 20, 30, 40]);
    let c = r.container("app");
    assert_eq!(c.restart_count, 0);
    assert_eq!(
        c.state
            .and_then(|s| s.waiting)
            .and_then(|w| w.reason)
            .as_deref(),
        Some("CreateContainerConfigError")
    );
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
}

/// activeDeadlineSeconds (§4.1): the deadline counts init time; when it passes, every running
/// container is stopped with the pod's grace, nothing else starts, and the pod is Failed with
/// reason DeadlineExceeded at once.
#[tokio::test(flavor = "current_thread")]
async fn active_deadline_seconds_fails_the_pod_counting_init_time() {
    let mut plan = pod(Always, 30, &["sidecar:proxy", "init:slow", "main"]);
    plan.active_deadline_seconds = Some(3);
    let r = Scenario::new(plan)
        .script("slow", vec![exits(10 * S, 0)])
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert_eq!(r.starts("main"), 0, "nothing starts after the deadline");
    let term = r.first("slow", "SIGTERM");
    assert!(
        (3000..3010).contains(&term),
        "stopped at the deadline, not at {term} ms"
    );
    let ev = r.events(EventReason::DeadlineExceeded);
    assert_eq!(ev.len(), 1);
    assert_eq!(
        ev[0].message,
        "Pod was active on the node longer than the specified deadline"
    );
    let last = r.statuses().pop().expect("a status").1;
    assert_eq!(
        (last.phase.as_deref(), last.reason.as_deref()),
        (Some("Failed"), Some("DeadlineExceeded"))
    );
}

// ---- §4.1 local-storage eviction (T246) ---------------------------------------------------------

const MI: u64 = 1 << 20;

/// Within the few milliseconds paused time needs to pass an event through the driver.
fn about(ms: u64, want: u64) -> bool {
    (want..want + 10).contains(&ms)
}

/// A measurement: disk-backed emptyDirs and containers (writable layer + logs), in MiB.
fn usage(empty_dirs: &[(&str, u64)], containers: &[(&str, u64)]) -> StorageUsage {
    StorageUsage {
        empty_dirs: empty_dirs
            .iter()
            .map(|(n, m)| (n.to_string(), m * MI))
            .collect(),
        containers: containers
            .iter()
            .map(|(n, m)| (n.to_string(), m * MI))
            .collect(),
    }
}

fn scratch_volume(plan: &mut PodPlan, limit: Option<u64>) {
    plan.volumes.push(VolumePlan {
        name: "scratch".into(),
        source: VolumeSource::EmptyDir {
            memory: false,
            size_limit_bytes: limit,
            size_limit_quantity: limit.map(|l| format!("{}Mi", l / MI)),
        },
    });
}

fn storage_limit(plan: PodPlan, name: &str, mib: u64) -> PodPlan {
    with(plan, name, |c| {
        c.resources.limits.ephemeral_storage_bytes = Some(mib * MI);
        c.resources.limits.ephemeral_storage_quantity = Some(format!("{mib}Mi"));
    })
}

/// T246 with an emptyDir (§4.1, §6.3): the first measurement over the `sizeLimit` evicts the
/// whole pod at once: Failed with reason Evicted and the kubelet's message from that moment, an
/// `Evicted` warning event, every container stopped with the eviction's 1 s override (so SIGKILL
/// 2 s after the stop signal, the kubelet's minimum), nothing restarted even under Always.
#[tokio::test(flavor = "current_thread")]
async fn t246_an_empty_dir_over_its_size_limit_evicts_the_pod() {
    let mut plan = pod(
        Always,
        30,
        &["sidecar:proxy", "init:setup", "writer", "idle"],
    );
    scratch_volume(&mut plan, Some(MI));
    let r = Scenario::new(plan)
        .script("setup", vec![exits(S, 0)])
        .script("idle", vec![serve().ignoring_term()])
        .storage_at(3 * S, usage(&[("scratch", 0)], &[]))
        .storage_at(5 * S, usage(&[("scratch", 4)], &[]))
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert_eq!(
        r.outcome.as_ref().map(|o| o.reason),
        Some(TerminationReason::Evicted)
    );
    let message = "Usage of EmptyDir volume \"scratch\" exceeds the limit \"1Mi\". ";
    let ev = r.events(EventReason::Evicted);
    assert_eq!(ev.len(), 1, "{ev:?}");
    assert_eq!(ev[0].kind, tandem_kubelet::events::EventType::Warning);
    assert_eq!(ev[0].message, message);
    // Failed/Evicted from the eviction on, before the containers have stopped.
    let first_failed = r
        .statuses()
        .into_iter()
        .find(|(_, s)| s.phase.as_deref() == Some("Failed"))
        .expect("a Failed status");
    assert!(about(first_failed.0, 5000), "{}", first_failed.0);
    assert_eq!(first_failed.1.reason.as_deref(), Some("Evicted"));
    assert!(!r.ever_phase("Succeeded"));
    let last = r.status();
    assert_eq!(
        (
            last.phase.as_deref(),
            last.reason.as_deref(),
            last.message.as_deref()
        ),
        (Some("Failed"), Some("Evicted"), Some(message))
    );
    // Main containers at once; the sidecar after them (its turn, bounded by the 1 s override).
    let term = r.first("writer", "SIGTERM");
    assert!(about(term, 5000), "{term}");
    assert_eq!(r.first("idle", "SIGTERM"), term);
    let kill = r.first("idle", "SIGKILL");
    assert!(about(kill, term + 2000), "the 2 s minimum window: {kill}");
    let proxy_term = r.first("proxy", "SIGTERM");
    assert!((term..term + 1010).contains(&proxy_term), "{proxy_term}");
    for c in ["proxy", "writer", "idle"] {
        assert_eq!(r.starts(c), 1, "{c} is not restarted");
    }
}

/// Under the limit nothing happens; a pod without limits ignores any usage.
#[tokio::test(flavor = "current_thread")]
async fn usage_within_the_limits_does_not_evict() {
    let mut plan = pod(Never, 30, &["app"]);
    scratch_volume(&mut plan, Some(MI));
    scratch_volume(&mut plan, None);
    plan.volumes[1].name = "unlimited".into();
    let plan = storage_limit(plan, "app", 8);
    let r = Scenario::new(plan)
        .script("app", vec![exits(10 * S, 0)])
        // Exactly at the limit is not over it.
        .storage_at(
            2 * S,
            usage(&[("scratch", 1), ("unlimited", 3)], &[("app", 4)]),
        )
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert!(r.events(EventReason::Evicted).is_empty());
    assert_eq!(r.status().reason, None);
}

/// T246 as the kubelet's test writes it: one container over its `ephemeral-storage` limit. The
/// pod-level check comes first and the pod's limit is that container's, so the kubelet's message
/// is the pod's.
#[tokio::test(flavor = "current_thread")]
async fn t246_a_container_over_its_ephemeral_storage_limit_evicts_the_pod() {
    let plan = storage_limit(pod(OnFailure, 30, &["app"]), "app", 5);
    let r = Scenario::new(plan)
        .storage_at(2 * S, usage(&[], &[("app", 10)]))
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert_eq!(r.status().reason.as_deref(), Some("Evicted"));
    assert_eq!(
        r.status().message.as_deref(),
        Some("Pod ephemeral local storage usage exceeds the total limit of containers 5Mi. ")
    );
    assert!(about(r.first("app", "SIGTERM"), 2000));
}

/// With a pod limit to spare, a container over its own limit is named (the last of the three
/// checks); sidecars count toward the pod's limit but have no limit of their own (the kubelet
/// checks `spec.containers` only).
#[tokio::test(flavor = "current_thread")]
async fn the_container_check_names_a_main_container_over_its_own_limit() {
    let plan = pod(Always, 30, &["sidecar:proxy", "hog", "quiet"]);
    let plan = storage_limit(plan, "proxy", 1);
    let plan = storage_limit(plan, "hog", 1);
    let plan = storage_limit(plan, "quiet", 20);
    let r = Scenario::new(plan)
        .storage_at(2 * S, usage(&[], &[("proxy", 3), ("hog", 1), ("quiet", 0)]))
        .storage_at(3 * S, usage(&[], &[("proxy", 3), ("hog", 2), ("quiet", 0)]))
        .until(60 * S)
        .run()
        .await;
    assert_eq!(
        r.events(EventReason::Evicted)
            .iter()
            .map(|e| e.message.as_str())
            .collect::<Vec<_>>(),
        ["Container hog exceeded its local ephemeral storage limit \"1Mi\". "]
    );
    assert!(about(r.first("hog", "SIGTERM"), 3000));
}

/// The pod's total counts its disk-backed emptyDirs beside the containers.
#[tokio::test(flavor = "current_thread")]
async fn the_pod_check_counts_empty_dirs() {
    let mut plan = storage_limit(pod(Always, 30, &["app"]), "app", 2);
    scratch_volume(&mut plan, None);
    let r = Scenario::new(plan)
        .storage_at(2 * S, usage(&[("scratch", 2)], &[("app", 1)]))
        .until(60 * S)
        .run()
        .await;
    assert_eq!(
        r.status().message.as_deref(),
        Some("Pod ephemeral local storage usage exceeds the total limit of containers 2Mi. ")
    );
}

/// Eviction is not a deletion: a pod already being deleted (or completing) goes on as it was.
#[tokio::test(flavor = "current_thread")]
async fn a_terminating_pod_is_not_evicted() {
    let mut plan = pod(Always, 30, &["app"]);
    scratch_volume(&mut plan, Some(MI));
    let r = Scenario::new(plan)
        .script("app", vec![serve().term_after(5 * S)])
        .delete_at(S, None)
        .storage_at(2 * S, usage(&[("scratch", 4)], &[]))
        .until(60 * S)
        .run()
        .await;
    assert!(r.events(EventReason::Evicted).is_empty());
    assert_eq!(
        r.outcome.as_ref().map(|o| o.reason),
        Some(TerminationReason::Deleted)
    );
}

// ---- §7.B KEP-5307 per-container restart policy and rules (T150–T154) ----------------------------

/// Gives a container its own restartPolicy and Restart rules on exit codes `In` these values.
fn own_policy(plan: PodPlan, name: &str, policy: RestartPolicy, restart_on: &[i32]) -> PodPlan {
    with(plan, name, |c| {
        c.restart_policy = Some(policy);
        if !restart_on.is_empty() {
            c.restart_rules = vec![RestartRule {
                operator: ExitCodeOperator::In,
                values: restart_on.to_vec(),
                action: RestartAction::Restart,
            }];
        }
    })
}

fn status_phase(r: &Run) -> String {
    r.status().phase.unwrap_or_default()
}

#[tokio::test(flavor = "current_thread")]
async fn t150_a_container_restarts_when_its_rule_matches() {
    let plan = own_policy(pod(Never, 30, &["c"]), "c", Never, &[42]);
    let r = Scenario::new(plan)
        .script("c", vec![exits(S, 42)])
        .until(60 * S)
        .run()
        .await;
    assert!(r.restarts("c") > 0, "{}", r.restarts("c"));
    assert!(
        r.outcome.is_none(),
        "a container that keeps restarting keeps the pod"
    );
    assert_eq!(status_phase(&r), "Running");
}

#[tokio::test(flavor = "current_thread")]
async fn t151_no_restart_on_a_rule_mismatch_under_container_policy_never() {
    let plan = own_policy(pod(Never, 30, &["c"]), "c", Never, &[42]);
    let r = Scenario::new(plan)
        .script("c", vec![exits(S, 1)])
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert_eq!(r.restarts("c"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn t152_container_policy_never_beats_the_pods_always() {
    let plan = own_policy(pod(Always, 30, &["c"]), "c", Never, &[]);
    let r = Scenario::new(plan)
        .script("c", vec![exits(S, 1)])
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed, "the pod terminates");
    assert_eq!(r.restarts("c"), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn t153_container_policy_always_beats_the_pods_never() {
    let plan = own_policy(pod(Never, 30, &["c"]), "c", Always, &[]);
    let r = Scenario::new(plan)
        .script("c", vec![exits(S, 1)])
        .until(60 * S)
        .run()
        .await;
    assert!(r.restarts("c") > 0);
    assert_eq!(status_phase(&r), "Running");
}

#[tokio::test(flavor = "current_thread")]
async fn t154_without_a_container_policy_the_pods_always_restarts_it() {
    let r = Scenario::new(pod(Always, 30, &["c"]))
        .script("c", vec![exits(S, 1)])
        .until(60 * S)
        .run()
        .await;
    assert!(r.restarts("c") > 0);
}

/// A "try-once" container (its own Never) in an OnFailure pod: it is not retried, its neighbour
/// is, and the pod ends Failed once both stopped for good.
#[tokio::test(flavor = "current_thread")]
async fn kep5307_a_try_once_container_in_an_on_failure_pod() {
    let plan = own_policy(pod(OnFailure, 30, &["once", "worker"]), "once", Never, &[]);
    let r = Scenario::new(plan)
        .script("once", vec![exits(S, 1)])
        .script("worker", vec![exits(2 * S, 1), exits(2 * S, 0)])
        .until(120 * S)
        .run()
        .await;
    assert_eq!(r.restarts("once"), 0);
    assert_eq!(r.restarts("worker"), 1);
    assert_eq!(r.phase(), PodPhase::Failed);
}

/// An init container with its own Never in an Always pod fails the pod (§2.7); one with its own
/// OnFailure in a Never pod is retried until it succeeds.
#[tokio::test(flavor = "current_thread")]
async fn kep5307_a_never_init_container_fails_an_always_pod() {
    let plan = own_policy(pod(Always, 30, &["init:setup", "app"]), "setup", Never, &[]);
    let r = Scenario::new(plan)
        .script("setup", vec![exits(S, 1)])
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    assert_eq!(r.restarts("setup"), 0);
    assert!(r.doesnt_start("app"));
}

#[tokio::test(flavor = "current_thread")]
async fn kep5307_an_on_failure_init_container_is_retried_in_a_never_pod() {
    let plan = own_policy(
        pod(Never, 30, &["init:setup", "app"]),
        "setup",
        OnFailure,
        &[],
    );
    let r = Scenario::new(plan)
        .script("setup", vec![exits(S, 1), exits(S, 0)])
        .script("app", vec![exits(S, 0)])
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.restarts("setup"), 1);
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

/// A liveness kill restarts a container only if it is restartable (`IsContainerRestartable`): a
/// rule with action Restart makes a Never container restartable whatever the exit code.
#[tokio::test(flavor = "current_thread")]
async fn kep5307_a_liveness_killed_never_container_is_not_restarted() {
    let plan = own_policy(pod(Always, 30, &["c"]), "c", Never, &[]);
    let plan = with(plan, "c", |c| c.liveness_probe = Some(probe(1, 1, 1)));
    let r = Scenario::new(plan)
        .script("c", vec![serve().term_code(143)])
        .handler("c", HandlerKind::Liveness, fail)
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.restarts("c"), 0);
    assert_eq!(r.phase(), PodPhase::Failed);
    let killing = r.events(EventReason::Killing);
    assert!(
        killing[0].message.ends_with("failed liveness probe"),
        "{}",
        killing[0].message
    );
}

#[tokio::test(flavor = "current_thread")]
async fn kep5307_a_restart_rule_makes_a_liveness_killed_never_container_restart() {
    let plan = own_policy(pod(Always, 30, &["c"]), "c", Never, &[42]);
    let plan = with(plan, "c", |c| c.liveness_probe = Some(probe(1, 1, 1)));
    let r = Scenario::new(plan)
        .script("c", vec![serve().term_code(143)])
        .handler("c", HandlerKind::Liveness, fail)
        .until(30 * S)
        .run()
        .await;
    assert!(r.restarts("c") > 0);
}

// ---- §7.B T155–T159 RestartAllContainers: refused by validation (tandem-api `load` tests) -------

// ---- Exec probe `$(VAR)` expansion (§3.6) --------------------------------------------------------

/// The runtime runs the exec probe with `$(VAR)` expanded from the container's static env (by the
/// planner, as the kubelet's prober does), and the exec hook as written (the kubelet's hook runner
/// does not expand).
#[tokio::test(flavor = "current_thread")]
async fn exec_probe_commands_reach_the_runtime_expanded() {
    let text = "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n    - name: c\n      image: busybox\n      env: [{name: MARK, value: /tmp/ready}]\n      readinessProbe: {exec: {command: [test, -e, \"$(MARK)\"]}, periodSeconds: 1}\n      lifecycle: {postStart: {exec: {command: [touch, \"$(MARK)\"]}}}\n";
    let sources = [tandem_api::Source::new("p.yaml", text)];
    let loaded = tandem_api::load(&sources, &tandem_api::PlanOptions::default()).expect("valid");
    let r = Scenario::new(loaded.pods[0].plan.clone())
        .until(5 * S)
        .run()
        .await;
    let probes = r.rt.exec_commands("c", HandlerKind::Readiness);
    assert!(!probes.is_empty());
    assert!(probes
        .iter()
        .all(|argv| argv == &["test", "-e", "/tmp/ready"]));
    assert_eq!(
        r.rt.exec_commands("c", HandlerKind::PostStart),
        [["touch", "$(MARK)"]]
    );
}

// ---- §1.7 image update of a running pod (T1–T13, T29–T31, T51, T72, T112, T227) ------------------

/// The image `busybox:2` in place of the plans' `busybox`.
const NEW: &str = "busybox:2";

/// T1–T3: two running main containers; c0's image changes at 5 s. c0 is killed ("definition
/// changed") and restarted with the new image whatever the restart policy; c1 is left alone.
async fn a_running_main_container_gets_its_new_image(policy: RestartPolicy) {
    let plan = pod(policy, 30, &["c0", "c1"]);
    let r = Scenario::new(plan)
        .set_image_at(5 * S, "c0", NEW)
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.rt.started_images("c0"), ["busybox", NEW]);
    assert_near(r.last("c0", "Starting"), 5000);
    assert_eq!(r.restarts("c0"), 1);
    assert_eq!(r.container("c0").image, NEW);
    assert!(r.container("c0").state.and_then(|s| s.running).is_some());
    assert!(!r.has_restarted("c1"));
    assert_eq!(r.restarts("c1"), 0);
    let killing = r.events(EventReason::Killing);
    assert_eq!(killing.len(), 1);
    assert_eq!(
        killing[0].message,
        "Container c0 definition changed, will be restarted"
    );
    assert!(
        matches!(
            killing[0].details,
            Some(EventDetails::Kill {
                kill_reason: KillReason::SpecChanged,
                ..
            })
        ),
        "{:?}",
        killing[0]
    );
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

/// §5.1: the only container of a Never pod restarted for a new image never makes the pod look
/// Failed or Succeeded in between (a pod never leaves those phases).
#[tokio::test(flavor = "current_thread")]
async fn an_image_update_of_the_only_container_never_flips_the_phase() {
    let plan = pod(Never, 30, &["c0"]);
    let r = Scenario::new(plan)
        .set_image_at(5 * S, "c0", NEW)
        .until(20 * S)
        .run()
        .await;
    assert_eq!(r.rt.started_images("c0"), ["busybox", NEW]);
    let phases: Vec<String> = r
        .statuses()
        .into_iter()
        .filter_map(|(_, s)| s.phase)
        .collect();
    assert!(
        phases.iter().all(|p| p == "Pending" || p == "Running"),
        "{phases:?}"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn t001_a_running_container_restarts_with_its_new_image_under_always() {
    a_running_main_container_gets_its_new_image(Always).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t002_a_running_container_restarts_with_its_new_image_under_onfailure() {
    a_running_main_container_gets_its_new_image(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t003_a_running_container_restarts_with_its_new_image_even_under_never() {
    a_running_main_container_gets_its_new_image(Never).await;
}

/// T4–T6: init-1 runs 20 s; regular-1's image changes at 5 s. Nothing happens until init
/// completes; then regular-1 starts once, with the new image, restartCount 0.
async fn an_image_update_during_initialization(policy: RestartPolicy) {
    let plan = pod(policy, 30, &["init:init-1", "regular-1", "regular-2"]);
    let r = Scenario::new(plan)
        .script("init-1", vec![exits(20 * S, 0)])
        .set_image_at(5 * S, "regular-1", NEW)
        .until(60 * S)
        .run()
        .await;
    assert!(r
        .statuses()
        .iter()
        .filter(|(t, _)| *t < 20_000)
        .all(|(_, s)| s.phase.as_deref() == Some("Pending")));
    assert_near(r.first("regular-1", "Starting"), 20_000);
    assert_eq!(r.rt.started_images("regular-1"), [NEW]);
    assert_eq!(r.rt.started_images("regular-2"), ["busybox"]);
    for c in ["regular-1", "regular-2"] {
        assert_eq!(r.restarts(c), 0, "{c}");
        assert!(r.container(c).state.and_then(|s| s.running).is_some());
    }
    assert_eq!(r.container("regular-1").image, NEW);
    assert!(r.events(EventReason::Killing).is_empty());
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "current_thread")]
async fn t004_an_image_update_during_initialization_under_always() {
    an_image_update_during_initialization(Always).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t005_an_image_update_during_initialization_under_onfailure() {
    an_image_update_during_initialization(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t006_an_image_update_during_initialization_under_never() {
    an_image_update_during_initialization(Never).await;
}

/// T7: a main container failing its startup probe restarts under Always; after an image update
/// it restarts with the new image.
#[tokio::test(flavor = "current_thread")]
async fn t007_a_container_failing_its_startup_probe_gets_its_new_image() {
    let plan = pod(Always, 30, &["regular-1"]);
    let plan = with(plan, "regular-1", |c| {
        c.startup_probe = Some(probe(5, 1, 1))
    });
    let r = Scenario::new(plan)
        .handler("regular-1", HandlerKind::Startup, fail)
        .set_image_at(8 * S, "regular-1", NEW)
        .until(60 * S)
        .run()
        .await;
    let images = r.rt.started_images("regular-1");
    assert!(images.len() >= 3, "{images:?}");
    assert_eq!(images[..2], ["busybox", "busybox"]);
    assert!(images[2..].iter().all(|i| i == NEW), "{images:?}");
    assert!(r.restarts("regular-1") > 1);
    assert_eq!(r.container("regular-1").image, NEW);
}

/// T11–T13: the pod is being deleted (its container takes 60 s to stop) when the image changes:
/// nothing restarts, and the pod goes away.
async fn an_image_update_during_termination(policy: RestartPolicy) {
    let plan = pod(policy, 120, &["regular-1"]);
    let r = Scenario::new(plan)
        .script("regular-1", vec![serve().term_after(60 * S).term_code(1)])
        .delete_at(10 * S, Some(120 * S))
        .set_image_at(11 * S, "regular-1", NEW)
        .until(200 * S)
        .run()
        .await;
    assert_eq!(r.starts("regular-1"), 1);
    assert_eq!(r.rt.started_images("regular-1"), ["busybox"]);
    assert_near(r.first("regular-1", "Exiting"), 70_000);
    assert_eq!(r.container("regular-1").image, "busybox");
    let killing = r.events(EventReason::Killing);
    assert_eq!(killing.len(), 1);
    assert_eq!(killing[0].message, "Stopping container regular-1");
    assert!(r.outcome.is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn t011_an_image_update_during_termination_is_ignored_under_always() {
    an_image_update_during_termination(Always).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t012_an_image_update_during_termination_is_ignored_under_onfailure() {
    an_image_update_during_termination(OnFailure).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t013_an_image_update_during_termination_is_ignored_under_never() {
    an_image_update_during_termination(Never).await;
}

/// T29: an init container that completed is not re-run when its image changes, and its status
/// keeps the image it ran.
#[tokio::test(flavor = "current_thread")]
async fn t029_a_completed_init_container_is_not_rerun_after_an_image_update() {
    let plan = pod(Always, 30, &["init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .set_image_at(5 * S, "init1", NEW)
        .until(30 * S)
        .run()
        .await;
    assert_eq!(r.rt.started_images("init1"), ["busybox"]);
    let init = r.container("init1");
    assert_eq!(init.image, "busybox");
    assert_eq!(init.restart_count, 0);
    let done = init.state.and_then(|s| s.terminated).expect("terminated");
    assert_eq!(done.exit_code, 0);
    assert!(!r.has_restarted("regular1"));
    assert!(r.events(EventReason::Killing).is_empty());
}

/// T30: the image of a running regular init container changes (to one that would not even pull):
/// it runs to completion as it is and is never re-run; the main container then crash-loops.
#[tokio::test(flavor = "current_thread")]
async fn t030_an_init_container_updated_while_it_runs_is_not_restarted() {
    let plan = pod(Always, 30, &["init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(20 * S, 0)])
        .script("regular1", vec![exits(S, 255)])
        .set_image_at(5 * S, "init1", "invalid.registry.example/nope:1")
        .until(90 * S)
        .run()
        .await;
    assert_eq!(r.starts("init1"), 1);
    assert_eq!(r.container("init1").image, "busybox");
    assert_eq!(r.container("init1").restart_count, 0);
    assert!(r.has_restarted("regular1"));
    assert!(r.events(EventReason::Killing).is_empty());
}

/// T31: Never; the pod is deleted while its main container takes 20 s to stop, then a completed
/// init container's image changes: it is not re-run and keeps its image.
#[tokio::test(flavor = "current_thread")]
async fn t031_an_init_container_image_update_during_termination_is_ignored() {
    let plan = pod(Never, 30, &["init:init1", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("regular1", vec![serve().term_after(20 * S).term_code(1)])
        .delete_at(5 * S, None)
        .set_image_at(6 * S, "init1", NEW)
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.starts("init1"), 1);
    assert_eq!(r.container("init1").image, "busybox");
    assert!(r.outcome.is_some());
}

/// T51 (Always) and T72 (OnFailure, the main container finishing): a running sidecar whose image
/// changes is restarted with it; the other sidecar and the main container are not.
async fn a_running_sidecar_gets_its_new_image(policy: RestartPolicy) -> Run {
    let plan = pod(policy, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(30 * S, 0)])
        .set_image_at(5 * S, "ri1", NEW)
        .until(120 * S)
        .run()
        .await;
    assert_eq!(r.rt.started_images("ri1"), ["busybox", NEW]);
    assert_near(r.last("ri1", "Starting"), 5000);
    assert!(!r.has_restarted("ri2"));
    assert!(!r.doesnt_start("regular1"));
    let killing = r.events(EventReason::Killing);
    assert_eq!(killing[0].message, "Init container ri1 definition changed");
    assert_eq!(killing[0].container.as_deref(), Some("ri1"));
    let ri1 = r.container("ri1");
    assert_eq!((ri1.image.as_str(), ri1.restart_count), (NEW, 1));
    r
}

#[tokio::test(flavor = "current_thread")]
async fn t051_a_running_sidecar_restarts_with_its_new_image() {
    let r = a_running_sidecar_gets_its_new_image(Always).await;
    assert!(r.has_restarted("regular1"));
    assert_eq!(r.rt.started_images("regular1")[0], "busybox");
}

#[tokio::test(flavor = "current_thread")]
async fn t072_a_running_sidecar_restarts_with_its_new_image_and_the_pod_succeeds() {
    let r = a_running_sidecar_gets_its_new_image(OnFailure).await;
    assert!(!r.has_restarted("regular1"));
    assert_eq!(r.phase(), PodPhase::Succeeded);
}

/// T112: a sidecar failing its startup probe restarts under Never; after an image update its next
/// instance runs the new image, and nothing after it starts.
#[tokio::test(flavor = "current_thread")]
async fn t112_a_sidecar_failing_its_startup_probe_gets_its_new_image() {
    let plan = pod(Never, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let plan = with(plan, "ri2", |c| c.startup_probe = Some(probe(2, 1, 1)));
    let r = Scenario::new(plan)
        .handler("ri2", HandlerKind::Startup, fail)
        .set_image_at(8 * S, "ri2", NEW)
        .until(60 * S)
        .run()
        .await;
    let ri2 = r.container("ri2");
    assert!(ri2.restart_count > 1);
    assert_eq!(ri2.image, NEW);
    assert!(r.rt.started_images("ri2").iter().any(|i| i == NEW));
    assert!(r.doesnt_start("regular1"));
    assert!(!r.has_restarted("ri1"));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
}

/// T227: the back-off key includes the spec hash, so an image update starts a fresh back-off. The
/// container runs 5 s and exits 1: starts at 0, 5, 20, 45 s, then waits 40 s; the update at 60 s
/// starts it at once, and the next restart waits the initial 10 s again.
#[tokio::test(flavor = "current_thread")]
async fn t227_an_image_update_resets_the_crash_loop_back_off() {
    let plan = pod(Always, 30, &["app"]);
    let r = Scenario::new(plan)
        .script("app", vec![exits(5 * S, 1)])
        .set_image_at(60 * S, "app", NEW)
        .until(80 * S)
        .run()
        .await;
    let starts: Vec<u64> = r
        .at("app", "Starting")
        .iter()
        .map(|ms| (ms + 500) / 1000)
        .collect();
    assert_eq!(starts, [0, 5, 20, 45, 60, 75]);
    assert_eq!(
        r.rt.started_images("app"),
        ["busybox", "busybox", "busybox", "busybox", NEW, NEW]
    );
    // Waiting, not running, when the image changed: nothing to kill.
    assert!(r.events(EventReason::Killing).is_empty());
}

/// T45/T46: during initialization (init2 running) the image of the sidecar before it changes: only
/// that sidecar restarts, with the new image; the running init2 is untouched and nothing after it
/// starts early.
async fn a_sidecar_updated_during_initialization(policy: RestartPolicy) {
    let plan = pod(
        policy,
        30,
        &[
            "init:init1",
            "sidecar:ri1",
            "init:init2",
            "sidecar:ri2",
            "regular1",
        ],
    );
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init2", vec![exits(60 * S, 0)])
        .set_image_at(5 * S, "ri1", NEW)
        .until(30 * S)
        .run()
        .await;
    assert_eq!(r.rt.started_images("ri1"), ["busybox", NEW]);
    assert!(r.starts_before("init1", "ri1") && r.starts_before("ri1", "init2"));
    assert!(!r.has_restarted("init1") && !r.has_restarted("init2"));
    assert!(r.doesnt_start("ri2") && r.doesnt_start("regular1"));
    let ri1 = r.container("ri1");
    assert_eq!((ri1.image.as_str(), ri1.restart_count), (NEW, 1));
    assert_eq!(r.status().phase.as_deref(), Some("Pending"));
}

#[tokio::test(flavor = "current_thread")]
async fn t045_a_sidecar_updated_during_initialization_restarts_alone_under_always() {
    a_sidecar_updated_during_initialization(Always).await;
}

#[tokio::test(flavor = "current_thread")]
async fn t046_a_sidecar_updated_during_initialization_restarts_alone_under_onfailure() {
    a_sidecar_updated_during_initialization(OnFailure).await;
}

/// T93: the main container keeps restarting (Always, 10 s runs); the first sidecar's image
/// changes: it restarts with it, the second sidecar does not.
#[tokio::test(flavor = "current_thread")]
async fn t093_a_sidecar_updated_while_the_main_container_restarts() {
    let plan = pod(Always, 30, &["sidecar:ri1", "sidecar:ri2", "regular1"]);
    let r = Scenario::new(plan)
        .script("regular1", vec![exits(10 * S, 0)])
        .set_image_at(25 * S, "ri1", NEW)
        .until(40 * S)
        .run()
        .await;
    assert!(r.restarts("regular1") >= 2);
    assert_eq!(r.rt.started_images("ri1"), ["busybox", NEW]);
    assert_eq!(r.container("ri1").image, NEW);
    assert!(!r.has_restarted("ri2"));
}

// ---- §2.3 sandbox loss (T32, T135) ---------------------------------------------------------------

/// The phases published after `from` ms, without repeats.
fn phases_after(r: &Run, from: u64) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    for (t, s) in r.statuses() {
        let p = s.phase.clone().unwrap_or_default();
        if t >= from && out.last() != Some(&p) {
            out.push(p);
        }
    }
    out
}

/// Whether condition `kind` was False in some status published after `from` ms.
fn ever_false_after(r: &Run, from: u64, kind: &str) -> bool {
    r.statuses()
        .iter()
        .any(|(t, s)| *t >= from && !condition(s, kind))
}

#[tokio::test(flavor = "current_thread")]
async fn t032_a_lost_sandbox_reruns_the_init_containers_in_order_then_the_regular_one() {
    let plan = pod(Always, 30, &["init:init1", "init:init2", "regular1"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init2", vec![exits(S, 0)])
        .lose_sandbox_at(10 * S)
        .until(60 * S)
        .run()
        .await;
    // Both runs in order: init1 < init2 < regular1.
    for c in ["init1", "init2", "regular1"] {
        assert_eq!(r.at(c, "Started").len(), 2, "{c}: {:#?}", r.marks);
    }
    let second = |c: &str| r.at(c, "Started")[1];
    assert!(r.first("init1", "Started") <= r.first("init2", "Starting"));
    assert!(r.first("init2", "Exiting") <= r.first("regular1", "Starting"));
    assert!(second("init1") < second("init2"));
    assert!(r.at("init2", "Exiting")[1] <= r.at("regular1", "Starting")[1]);
    // regular1 was stopped before the new sandbox, which came before any second start.
    assert_near(r.first("regular1", "SIGTERM"), 10_000);
    let created = r.first("sandbox", "Ready");
    assert_eq!(
        r.at("sandbox", "Creating").len(),
        1,
        "one new sandbox per loss"
    );
    assert!(r.first("regular1", "Exiting") <= created);
    assert!(created <= second("init1"));
    assert_eq!(r.restarts("init1"), 1);
    assert_eq!(r.restarts("init2"), 1);
    assert_eq!(r.restarts("regular1"), 1);
    let changed = r.events(EventReason::SandboxChanged);
    assert_eq!(changed.len(), 1);
    assert_eq!(
        changed[0].message,
        "Pod sandbox changed, it will be killed and re-created."
    );
    assert!(r
        .events(EventReason::Killing)
        .iter()
        .any(|e| e.message == "Stopping container regular1"));
    // Pending while re-initializing, not ready to start containers until the new sandbox, not
    // initialized until the init containers ran again; then Running and Ready.
    assert_eq!(phases_after(&r, 10_000), ["Running", "Pending", "Running"]);
    assert!(ever_false_after(&r, 10_000, "PodReadyToStartContainers"));
    assert!(ever_false_after(&r, 10_000, "Initialized"));
    let last = r.status();
    assert_eq!(last.phase.as_deref(), Some("Running"));
    assert!(condition(&last, "Ready"));
    assert!(condition(&last, "Initialized"));
    assert!(condition(&last, "PodReadyToStartContainers"));
    // The new sandbox's address is the pod's.
    assert_eq!(last.pod_ip.as_deref(), Some("10.88.0.3"));
}

#[tokio::test(flavor = "current_thread")]
async fn t135_a_lost_sandbox_reruns_init_containers_and_sidecars_in_order() {
    let plan = pod(
        Always,
        30,
        &["init:init1", "sidecar:ri2", "init:init3", "regular1"],
    );
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("init3", vec![exits(S, 0)])
        .lose_sandbox_at(10 * S)
        .until(60 * S)
        .run()
        .await;
    for c in ["init1", "ri2", "init3", "regular1"] {
        assert_eq!(r.at(c, "Started").len(), 2, "{c}: {:#?}", r.marks);
    }
    let started = |c: &str, i: usize| r.at(c, "Started")[i];
    for i in 0..2 {
        assert!(started("init1", i) < started("ri2", i));
        assert!(started("ri2", i) < started("init3", i));
        assert!(started("init3", i) < started("regular1", i));
    }
    // The sidecar is stopped after the regular container, as in a pod termination.
    assert!(r.first("regular1", "Exiting") <= r.first("ri2", "SIGTERM"));
    assert!(r.restarts("init1") >= 1);
    assert_eq!(phases_after(&r, 10_000), ["Running", "Pending", "Running"]);
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_lost_sandbox_without_init_containers_restarts_what_must_run_again() {
    // U-K1 #8 over time: under OnFailure the container that succeeded is not restarted.
    let plan = pod(OnFailure, 30, &["done", "serving"]);
    let r = Scenario::new(plan)
        .script("done", vec![exits(S, 0)])
        .lose_sandbox_at(5 * S)
        .until(30 * S)
        .run()
        .await;
    assert_eq!(r.starts("done"), 1);
    assert_eq!(r.starts("serving"), 2);
    assert_eq!(r.restarts("serving"), 1);
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
    assert!(r.outcome.is_none(), "the pod keeps running");
}

#[tokio::test(flavor = "current_thread")]
async fn a_never_pod_that_ran_gets_no_new_sandbox_and_ends_with_what_ran() {
    let plan = pod(Never, 30, &["init:init1", "done", "serving"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .script("done", vec![exits(S, 0)])
        .script("serving", vec![serve().term_code(1)])
        .lose_sandbox_at(10 * S)
        .until(60 * S)
        .run()
        .await;
    assert!(r.at("sandbox", "Creating").is_empty());
    assert!(r.events(EventReason::SandboxChanged).is_empty());
    for c in ["init1", "done", "serving"] {
        assert_eq!(r.starts(c), 1, "{c}");
    }
    assert_near(r.first("serving", "SIGTERM"), 10_000);
    let outcome = r.outcome.as_ref().expect("the pod ended");
    assert_eq!(outcome.reason, TerminationReason::SandboxLost);
    // From what ran: "serving" exited 1 when stopped.
    assert_eq!(outcome.phase, PodPhase::Failed);
    assert!(!condition(&r.status(), "PodReadyToStartContainers"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_completed_onfailure_pod_gets_no_new_sandbox() {
    // All main containers succeeded: the pod is already stopping its sidecar when the sandbox
    // goes, and nothing starts again.
    let plan = pod(OnFailure, 30, &["sidecar:logs", "app"]);
    let r = Scenario::new(plan)
        .script("app", vec![exits(S, 0)])
        .script("logs", vec![serve().term_after(5 * S)])
        .lose_sandbox_at(2 * S)
        .until(60 * S)
        .run()
        .await;
    assert!(r.at("sandbox", "Creating").is_empty());
    assert!(r.events(EventReason::SandboxChanged).is_empty());
    assert_eq!(r.starts("app"), 1);
    assert_eq!(r.starts("logs"), 1);
    let outcome = r.outcome.as_ref().expect("the pod ended");
    assert_eq!(outcome.phase, PodPhase::Succeeded);
    assert_eq!(outcome.reason, TerminationReason::Completed);
}

#[tokio::test(flavor = "current_thread")]
async fn a_sandbox_that_cannot_be_recreated_fails_the_pod() {
    let plan = pod(Always, 30, &["init:init1", "app"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .fail_sandbox(1, "cannot start the pod's pause process")
        .lose_sandbox_at(5 * S)
        .until(60 * S)
        .run()
        .await;
    let outcome = r.outcome.as_ref().expect("the pod ended");
    assert_eq!(outcome.phase, PodPhase::Failed);
    assert_eq!(outcome.reason, TerminationReason::SandboxCreationFailed);
    assert_eq!(r.starts("app"), 1);
    assert_eq!(r.starts("init1"), 1);
    let status = r.status();
    assert_eq!(status.reason.as_deref(), Some("FailedCreatePodSandBox"));
    assert_eq!(
        status.message.as_deref(),
        Some("Failed to create pod sandbox: cannot start the pod's pause process")
    );
    let failed = r.events(EventReason::FailedCreatePodSandBox);
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].kind, tandem_kubelet::events::EventType::Warning);
}

#[tokio::test(flavor = "current_thread")]
async fn restart_counts_keep_counting_across_sandboxes() {
    let plan = pod(Always, 30, &["init:init1", "app"]);
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .lose_sandbox_at(10 * S)
        .lose_sandbox_at(30 * S)
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.starts("init1"), 3);
    assert_eq!(r.restarts("init1"), 2);
    assert_eq!(r.restarts("app"), 2);
    assert_eq!(r.events(EventReason::SandboxChanged).len(), 2);
    assert_eq!(r.status().pod_ip.as_deref(), Some("10.88.0.4"));
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

// ---- §6.7 volumes that wait for their ConfigMap or Secret ----------------------------------------

/// A pod with a volume of a ConfigMap that is not there yet.
fn awaiting_volume(mut plan: PodPlan) -> PodPlan {
    plan.volumes.push(VolumePlan {
        name: "config".into(),
        source: VolumeSource::Files {
            parts: vec![FilePart::Object {
                files: ObjectFiles {
                    kind: ObjectKind::ConfigMap,
                    name: "app-config".into(),
                    items: vec![],
                    mode: 0o644,
                },
                optional: false,
                held: None,
            }],
        },
    });
    plan
}

#[tokio::test(flavor = "current_thread")]
async fn no_container_starts_until_the_volumes_object_appears() {
    let plan = awaiting_volume(pod(Always, 30, &["init:init1", "sidecar:proxy", "app"]));
    let r = Scenario::new(plan)
        .script("init1", vec![exits(S, 0)])
        .volumes_missing_until(5 * S)
        .until(20 * S)
        .run()
        .await;
    // Tries back off from 500 ms, doubling: 0, 0.5, 1.5, 3.5 s fail; 7.5 s finds the object
    // (to the timer's millisecond per try).
    assert_eq!(tenths(r.at("volumes", "FailedMount")), [0, 5, 15, 35]);
    assert_eq!(tenths(r.at("volumes", "SetUp")), [75]);
    assert_eq!(tenths(vec![r.first("init1", "Starting")]), [75]);
    assert!(r.starts_before("init1", "proxy"));
    assert!(r.starts_before("proxy", "app"));
    let failed = r.events(EventReason::FailedMount);
    assert_eq!(failed.len(), 4);
    assert_eq!(failed[0].kind, tandem_kubelet::events::EventType::Warning);
    assert_eq!(
        failed[0].message,
        "MountVolume.SetUp failed for volume \"config\" : configmap \"app-config\" not found"
    );
    // While it waits the pod is Pending and every container waits as the kubelet shows it.
    let (_, waiting) = r
        .statuses()
        .into_iter()
        .rfind(|(t, _)| *t < 7400)
        .expect("a status while waiting");
    assert_eq!(waiting.phase.as_deref(), Some("Pending"));
    let reasons: Vec<String> = waiting
        .init_container_statuses
        .iter()
        .flatten()
        .chain(waiting.container_statuses.iter().flatten())
        .map(|c| {
            c.state
                .as_ref()
                .and_then(|s| s.waiting.as_ref())
                .and_then(|w| w.reason.clone())
                .unwrap_or_default()
        })
        .collect();
    assert_eq!(reasons, ["PodInitializing"; 3]);
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
}

#[tokio::test(flavor = "current_thread")]
async fn a_pod_waiting_for_its_volumes_is_deleted_without_starting_anything() {
    let plan = awaiting_volume(pod(Always, 30, &["app"]));
    let r = Scenario::new(plan)
        .volumes_missing_until(600 * S)
        .delete_at(3 * S, None)
        .until(60 * S)
        .run()
        .await;
    let outcome = r.outcome.as_ref().expect("the pod ended");
    assert_eq!(outcome.reason, TerminationReason::Deleted);
    assert!(r.at("app", "Starting").is_empty());
    assert!(r.at("volumes", "SetUp").is_empty());
    // Back-off doubles to its 10 s cap: no try after the delete at 3 s.
    assert_eq!(tenths(r.at("volumes", "FailedMount")), [0, 5, 15]);
}

// ---- §6.9 file volumes kept current -------------------------------------------------------------

/// Once set up, a pod's file volumes are made again every resync period while it runs; a
/// failure (the object deleted) is warned about once, not at every resync, and again only once
/// it has passed and comes back. Nothing else of the pod is touched.
#[tokio::test(flavor = "current_thread")]
async fn file_volumes_are_resynced_every_period_and_a_failure_is_said_once() {
    let plan = awaiting_volume(pod(Always, 30, &["app"]));
    let r = Scenario::new(plan)
        .volumes_missing_until(S)
        .resync_failing(10 * S, 25 * S)
        .until(40 * S)
        .run()
        .await;
    assert_eq!(tenths(r.at("volumes", "SetUp")), [15]);
    // The first right after the set-up, then every 5 s.
    let resyncs = tenths(r.at("volumes", "Resync"));
    let failed = tenths(r.at("volumes", "ResyncFailed"));
    assert_eq!(resyncs, [15, 65, 265, 315, 365]);
    assert_eq!(failed, [115, 165, 215]);
    let warned: Vec<_> = r
        .events(EventReason::FailedMount)
        .into_iter()
        .filter(|e| e.message.contains("app-config"))
        .collect();
    // Two at set-up (0 and 0.5 s), one for the three failed resyncs.
    assert_eq!(warned.len(), 3, "{warned:?}");
    assert_eq!(r.starts("app"), 1);
}

/// Milliseconds to the nearest tenth of a second.
fn tenths(ms: Vec<u64>) -> Vec<u64> {
    ms.into_iter().map(|t| (t + 50) / 100).collect()
}

// ---- §6.8 admission -------------------------------------------------------------------------------

#[tokio::test(flavor = "current_thread")]
async fn a_pod_with_an_unsafe_sysctl_is_refused_before_anything_starts() {
    let mut plan = awaiting_volume(pod(Always, 30, &["init:init1", "app"]));
    plan.security.sysctls = vec![
        ("net.ipv4.tcp_syncookies".into(), "1".into()),
        ("kernel/msgmax".into(), "1".into()),
    ];
    let r = Scenario::new(plan).until(60 * S).run().await;
    let outcome = r.outcome.as_ref().expect("the pod ended");
    assert_eq!(outcome.phase, PodPhase::Failed);
    assert_eq!(outcome.reason, TerminationReason::Rejected);
    // Not a container, not even the volumes.
    assert!(r.marks.is_empty(), "{:#?}", r.marks);
    let status = r.status();
    assert_eq!(status.phase.as_deref(), Some("Failed"));
    assert_eq!(status.reason.as_deref(), Some("SysctlForbidden"));
    assert_eq!(
        status.message.as_deref(),
        Some("Pod was rejected: forbidden sysctl: \"kernel.msgmax\" not allowlisted")
    );
    assert!(status.container_statuses.is_none() && status.init_container_statuses.is_none());
    let refused = r.events(EventReason::SysctlForbidden);
    assert_eq!(refused.len(), 1);
    assert_eq!(
        refused[0].message,
        "forbidden sysctl: \"kernel.msgmax\" not allowlisted"
    );
}

#[test]
fn admission_refuses_what_the_kubelets_sysctl_allowlist_refuses() {
    use tandem_kubelet::admission::admit;
    let with = |sysctls: &[&str], host_network: bool, host_ipc: bool| {
        let mut plan = pod(Always, 30, &["app"]);
        plan.security.sysctls = sysctls
            .iter()
            .map(|n| (n.to_string(), "1".into()))
            .collect();
        plan.host_network = host_network;
        plan.host_ipc = host_ipc;
        admit(&plan).err().map(|r| r.message)
    };
    assert_eq!(with(&[], true, true), None);
    assert_eq!(
        with(
            &["net.ipv4.tcp_keepalive_probes", "kernel.shm_rmid_forced"],
            false,
            false
        ),
        None
    );
    assert_eq!(
        with(&["net/ipv4/ip_local_port_range"], true, false).as_deref(),
        Some(
            "forbidden sysctl: \"net.ipv4.ip_local_port_range\" not allowed with host net enabled"
        )
    );
    assert_eq!(
        with(&["kernel.shm_rmid_forced"], false, true).as_deref(),
        Some("forbidden sysctl: \"kernel.shm_rmid_forced\" not allowed with host ipc enabled")
    );
    assert_eq!(
        with(&["vm.max_map_count"], false, false).as_deref(),
        Some("forbidden sysctl: \"vm.max_map_count\" not allowlisted")
    );
    // The node's --allowed-unsafe-sysctls add to the safe set, by name or prefix; a host
    // namespace the pod shares still refuses them.
    let allowing = |sysctl: &str, host_ipc: bool| {
        let mut plan = pod(Always, 30, &["app"]);
        plan.security.sysctls = vec![(sysctl.to_string(), "1".into())];
        plan.host_ipc = host_ipc;
        plan.allowed_unsafe_sysctls = vec!["kernel.msg*".into(), "net.core.somaxconn".into()];
        admit(&plan).err().map(|r| r.message)
    };
    assert_eq!(allowing("kernel.msgmax", false), None);
    assert_eq!(allowing("net/core/somaxconn", false), None);
    assert_eq!(
        allowing("kernel.sem", false).as_deref(),
        Some("forbidden sysctl: \"kernel.sem\" not allowlisted")
    );
    assert_eq!(
        allowing("kernel.msgmax", true).as_deref(),
        Some("forbidden sysctl: \"kernel.msgmax\" not allowed with host ipc enabled")
    );
}

// ---- §7.B KEP-5532 RestartAllContainers (T155–T159) ---------------------------------------------

/// Gives a container a rule {RestartAllContainers, exitCodes In `codes`}, and its own
/// restartPolicy (which the API server requires with rules; a sidecar keeps its Always).
fn restart_all_on(plan: PodPlan, name: &str, policy: RestartPolicy, codes: &[i32]) -> PodPlan {
    with(plan, name, |c| {
        if c.role != ContainerRole::Sidecar {
            c.restart_policy = Some(policy);
        }
        c.restart_rules = vec![RestartRule {
            operator: ExitCodeOperator::In,
            values: codes.to_vec(),
            action: RestartAction::RestartAllContainers,
        }];
    })
}

/// `AllContainersRestarting` of a status: (status, reason, message).
fn restarting(s: &PodStatus) -> Option<(String, Option<String>, Option<String>)> {
    s.conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "AllContainersRestarting")
        .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
}

/// The checks T155–T159 share: each container in `restarted` restarted exactly `times`, its
/// last state the removed container's, and the condition was True during the restart and is
/// False now.
fn assert_restarted_in_place(r: &Run, restarted: &[&str], times: i32) {
    for c in restarted {
        let s = r.container(c);
        assert_eq!(s.restart_count, times, "{c}: {:#?}", r.marks);
        let last = s
            .last_state
            .and_then(|l| l.terminated)
            .unwrap_or_else(|| panic!("{c} has no lastState"));
        assert_eq!(
            last.reason.as_deref(),
            Some("RestartingAllContainers"),
            "{c}"
        );
        assert_eq!(last.exit_code, 137, "{c}");
        assert_eq!(
            last.message.as_deref(),
            Some("The container is removed because RestartAllContainers in place")
        );
        assert!(
            last.finished_at.is_none() && last.started_at.is_none(),
            "{c}"
        );
    }
    let during = r
        .statuses()
        .into_iter()
        .find(|(_, s)| restarting(s).is_some_and(|c| c.0 == "True"))
        .map(|(_, s)| s)
        .expect("AllContainersRestarting was True");
    assert_eq!(
        restarting(&during),
        Some((
            "True".into(),
            Some("RestartAllContainersStarted".into()),
            Some("container exited with restart policy rule".into())
        ))
    );
    assert_eq!(restarting(&r.status()), Some(("False".into(), None, None)));
    // An initialized pod stays initialized through the restart (§5.2).
    assert!(
        r.statuses()
            .iter()
            .skip_while(|(_, s)| !condition(s, "Initialized"))
            .all(|(_, s)| condition(s, "Initialized")),
        "Initialized went back to False"
    );
    // Killed at once, with no preStop hook and no grace period beyond the 2 s minimum.
    for e in r.events(EventReason::Killing) {
        assert_eq!(
            e.details,
            Some(EventDetails::Kill {
                grace_period_seconds: 0.0,
                kill_reason: KillReason::RestartAllContainers,
            }),
            "{e:?}"
        );
    }
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
    assert!(r.outcome.is_none(), "the pod keeps running");
}

#[tokio::test(flavor = "current_thread")]
async fn t155_a_regular_container_exit_restarts_all_containers() {
    let plan = pod(
        Never,
        30,
        &[
            "init:init",
            "sidecar:sidecar",
            "source-container",
            "regular",
        ],
    );
    let plan = restart_all_on(plan, "source-container", Never, &[42]);
    let r = Scenario::new(plan)
        .script("init", vec![exits(S, 0)])
        .script("source-container", vec![exits(5 * S, 42), serve()])
        .until(60 * S)
        .run()
        .await;
    assert_restarted_in_place(&r, &["init", "sidecar", "source-container", "regular"], 1);
    // Both runs in init order.
    let started = |c: &str, i: usize| r.at(c, "Started")[i];
    for i in 0..2 {
        assert!(started("init", i) < started("sidecar", i), "{:#?}", r.marks);
        assert!(started("sidecar", i) < started("source-container", i));
        assert!(started("source-container", i) < started("regular", i));
    }
    // Everything still running was stopped before init ran again; the sandbox stayed.
    let rerun = started("init", 1);
    for c in ["sidecar", "regular"] {
        assert!(r.last(c, "Exiting") <= rerun, "{c}: {:#?}", r.marks);
    }
    assert!(r.at("sandbox", "Ready").is_empty(), "no new sandbox");
    assert!(r.events(EventReason::SandboxChanged).is_empty());
    assert!(r
        .container("source-container")
        .state
        .and_then(|s| s.running)
        .is_some());
    assert!(r
        .container("regular")
        .state
        .and_then(|s| s.running)
        .is_some());
    // Running while the containers stop, Pending while the init sequence runs again.
    assert_eq!(phases_after(&r, 5_000), ["Running", "Pending", "Running"]);
    // The pod stays initialized through the restart (§2.7).
    let initialized: Vec<bool> = r
        .statuses()
        .iter()
        .skip_while(|(_, s)| !condition(s, "Initialized"))
        .map(|(_, s)| condition(s, "Initialized"))
        .collect();
    assert!(
        initialized.len() > 1 && initialized.iter().all(|i| *i),
        "{initialized:?}"
    );
    // A removed container waits with the kubelet's reason until it starts again.
    assert!(r.statuses().iter().any(|(_, s)| {
        container_of(s, "regular")
            .state
            .and_then(|st| st.waiting)
            .is_some_and(|w| w.reason.as_deref() == Some("RestartingAllContainers"))
    }));
}

#[tokio::test(flavor = "current_thread")]
async fn t156_a_sidecar_exit_restarts_all_containers() {
    let plan = pod(
        Never,
        30,
        &[
            "init:init",
            "sidecar:sidecar",
            "sidecar:source-sidecar",
            "regular",
        ],
    );
    let plan = restart_all_on(plan, "source-sidecar", Always, &[42]);
    let r = Scenario::new(plan)
        .script("init", vec![exits(S, 0)])
        .script("source-sidecar", vec![exits(30 * S, 42), serve()])
        .until(90 * S)
        .run()
        .await;
    assert_restarted_in_place(&r, &["init", "sidecar", "source-sidecar", "regular"], 1);
    let started = |c: &str| r.at(c, "Started")[1];
    assert!(started("init") < started("sidecar"));
    assert!(started("sidecar") < started("source-sidecar"));
    assert!(started("source-sidecar") < started("regular"));
}

#[tokio::test(flavor = "current_thread")]
async fn t157_an_init_container_exit_restarts_init_containers_and_sidecars() {
    let plan = pod(
        Never,
        30,
        &[
            "sidecar:sidecar",
            "init:init",
            "init:source-init",
            "regular",
        ],
    );
    let plan = restart_all_on(plan, "source-init", Never, &[42]);
    let r = Scenario::new(plan)
        .script("init", vec![exits(S, 0)])
        .script("source-init", vec![exits(S, 42), exits(S, 0)])
        .until(60 * S)
        .run()
        .await;
    assert_restarted_in_place(&r, &["init", "sidecar", "source-init"], 1);
    // The regular container had not started: it starts once, after the second run.
    assert_eq!(r.starts("regular"), 1);
    assert_eq!(r.restarts("regular"), 0);
    assert!(r.first("regular", "Started") > r.at("source-init", "Exiting")[1]);
    assert!(r
        .container("regular")
        .state
        .and_then(|s| s.running)
        .is_some());
}

#[tokio::test(flavor = "current_thread")]
async fn t158_several_restart_all_rules_do_not_loop() {
    let plan = pod(Never, 30, &["source-container", "regular"]);
    let plan = restart_all_on(plan, "source-container", Never, &[42]);
    let plan = restart_all_on(plan, "regular", Never, &[42]);
    let r = Scenario::new(plan)
        .script("source-container", vec![exits(10 * S, 42), serve()])
        .until(120 * S)
        .run()
        .await;
    assert_restarted_in_place(&r, &["source-container", "regular"], 1);
    assert_eq!(r.starts("source-container"), 2);
    assert_eq!(r.starts("regular"), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn t159_a_previously_restarted_container_restarts_all_containers() {
    let plan = pod(Always, 30, &["source-container", "regular"]);
    let plan = restart_all_on(plan, "source-container", Always, &[42]);
    let r = Scenario::new(plan)
        .script("source-container", vec![exits(S, 1), exits(S, 42), serve()])
        .until(60 * S)
        .run()
        .await;
    // Exit 1 restarts it alone (its own Always); exit 42 restarts both.
    assert_eq!(r.starts("source-container"), 3);
    assert_eq!(r.starts("regular"), 2);
    assert_eq!(r.restarts("source-container"), 2);
    assert_eq!(r.restarts("regular"), 1);
    assert_eq!(
        r.events(EventReason::Killing).len(),
        1,
        "only regular was running to be killed"
    );
    assert_eq!(r.status().phase.as_deref(), Some("Running"));
    assert_eq!(restarting(&r.status()), Some(("False".into(), None, None)));
}

#[tokio::test(flavor = "current_thread")]
async fn a_pod_deleted_after_a_restart_all_ends_with_the_condition_false() {
    let plan = pod(Never, 30, &["source-container", "regular"]);
    let plan = restart_all_on(plan, "source-container", Never, &[42]);
    let r = Scenario::new(plan)
        .script("source-container", vec![exits(2 * S, 42), serve()])
        .delete_at(20 * S, None)
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.starts("source-container"), 2);
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert_eq!(
        restarting(&r.status()),
        Some(("False".into(), Some("PodCompleted".into()), None))
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_pod_without_restart_all_rules_has_no_all_containers_restarting_condition() {
    let r = Scenario::new(pod(Always, 30, &["a"]))
        .until(5 * S)
        .run()
        .await;
    assert_eq!(restarting(&r.status()), None);
}

// ---- Readiness gates (§5.2, T229) -----------------------------------------------------------------

/// Ready over time: (ms, status, reason) each time it changes.
fn ready_changes(r: &Run) -> Vec<(u64, String, Option<String>)> {
    let mut out: Vec<(u64, String, Option<String>)> = vec![];
    for (t, s) in r.statuses() {
        let Some(c) = s.conditions.iter().flatten().find(|c| c.type_ == "Ready") else {
            continue;
        };
        if out.last().map(|l| (&l.1, &l.2)) != Some((&c.status, &c.reason)) {
            out.push((t, c.status.clone(), c.reason.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "current_thread")]
async fn t229_ready_follows_the_conditions_of_the_readiness_gates() {
    let mut plan = pod(Always, 30, &["c"]);
    plan.readiness_gates = vec!["g1".into(), "g2".into()];
    let r = Scenario::new(plan)
        .condition_at(5 * S, "g1", "True", true)
        .condition_at(10 * S, "g2", "True", true)
        .condition_at(15 * S, "g1", "False", true)
        // Not a gate of the pod, or not a condition status: refused, nothing changes.
        .condition_at(16 * S, "Ready", "True", false)
        .condition_at(17 * S, "g1", "Yes", false)
        .until(20 * S)
        .run()
        .await;
    let gates = Some("ReadinessGatesNotReady".to_string());
    let changes = ready_changes(&r);
    let brief: Vec<(&str, Option<&str>)> = changes
        .iter()
        .map(|(_, s, why)| (s.as_str(), why.as_deref()))
        .collect();
    assert_eq!(
        brief,
        [
            ("False", Some("ContainersNotReady")),
            ("False", gates.as_deref()),
            ("True", None),
            ("False", gates.as_deref()),
        ]
    );
    // Ready at the second gate, not at the first; unready again when the first went False.
    assert_near(changes[2].0, 10_000);
    assert_near(changes[3].0, 15_000);
    let last = r.status();
    let g1 = last
        .conditions
        .iter()
        .flatten()
        .find(|c| c.type_ == "g1")
        .cloned()
        .expect("g1");
    assert_eq!(g1.status, "False");
    // The time it last changed (15 s after the start, on a clock starting at the epoch).
    assert_eq!(g1.last_transition_time.map(|t| t.0.as_second()), Some(15));
    // The gates' conditions come first, as the kubelet keeps conditions it does not own.
    let kinds: Vec<&str> = last
        .conditions
        .iter()
        .flatten()
        .map(|c| c.type_.as_str())
        .collect();
    assert_eq!(&kinds[..2], ["g1", "g2"]);
}

/// The API server lets `terminationGracePeriodSeconds` reach i64::MAX and bounds
/// `activeDeadlineSeconds` only at u32::MAX; neither may overflow a deadline (a panic here was a
/// pod stuck Pending). The grace period saturates at ~136 years: a container that ignores
/// SIGTERM is still waited for, and one that obeys it ends the pod at once.
#[tokio::test(flavor = "current_thread")]
async fn the_largest_grace_period_and_deadline_saturate() {
    let mut plan = pod(Always, i64::MAX, &["obeys", "ignores"]);
    plan.active_deadline_seconds = Some(i64::MAX);
    let r = Scenario::new(plan)
        .script("obeys", vec![serve()])
        .script("ignores", vec![serve().ignoring_term()])
        .delete_at(S, None)
        .until(60 * S)
        .run()
        .await;
    assert_near(r.first("obeys", "SIGTERM"), 1000);
    assert_near(r.first("ignores", "SIGTERM"), 1000);
    assert!(
        r.marks.iter().all(|m| m.what != "SIGKILL"),
        "nothing is killed within a minute of a ~136-year grace period"
    );
}

/// A grace period given with a delete saturates as the manifest's does, and a shorter one given
/// later still cuts it, as kubectl's does.
#[tokio::test(flavor = "current_thread")]
async fn a_huge_delete_grace_saturates_and_a_later_short_one_cuts_it() {
    let plan = pod(Always, i64::MAX, &["ignores"]);
    let r = Scenario::new(plan)
        .script("ignores", vec![serve().ignoring_term()])
        .delete_at(S, None)
        .delete_at(2 * S, Some(Duration::from_secs(u64::MAX / 4)))
        .delete_at(3 * S, Some(Duration::from_secs(5)))
        .run()
        .await;
    assert_near(r.first("ignores", "SIGKILL"), 8000);
    assert!(r.outcome.is_some());
}

/// xorshift64*: a small seeded generator for the property runs below.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }
    fn secs(&mut self, max: u64) -> Duration {
        Duration::from_millis(self.below(max * 1000))
    }
}

/// One random pod: init containers and sidecars interleaved, main containers, a restart policy,
/// a grace period, what each instance does, and perhaps a delete.
fn random_scenario(rng: &mut Rng) -> (Scenario, Vec<String>, Vec<String>, Vec<String>) {
    let mut spec = vec![];
    let (mut inits, mut sidecars, mut mains) = (vec![], vec![], vec![]);
    for i in 0..rng.below(4) {
        if rng.below(2) == 0 {
            spec.push(format!("init:i{i}"));
            inits.push(format!("i{i}"));
        } else {
            spec.push(format!("sidecar:s{i}"));
            sidecars.push(format!("s{i}"));
        }
    }
    for i in 0..1 + rng.below(3) {
        spec.push(format!("m{i}"));
        mains.push(format!("m{i}"));
    }
    let policy = [Always, OnFailure, Never][rng.below(3) as usize];
    let grace = rng.below(10) as i64;
    let spec_refs: Vec<&str> = spec.iter().map(String::as_str).collect();
    let mut s = Scenario::new(pod(policy, grace, &spec_refs)).until(900 * S);
    for c in &inits {
        let b = (0..3)
            .map(|_| Behavior::exit(rng.secs(3), [0, 0, 1][rng.below(3) as usize]))
            .collect();
        s = s.script(c, b);
    }
    // Sidecars never end by themselves, so the order they end in is the engine's alone.
    for c in &sidecars {
        let b = match rng.below(3) {
            0 => serve(),
            1 => serve().ignoring_term(),
            _ => serve().term_after(rng.secs(4)),
        };
        s = s.script(c, vec![b]);
    }
    for c in &mains {
        let b = (0..3)
            .map(|_| match rng.below(4) {
                0 => serve(),
                1 => serve().ignoring_term(),
                _ => Behavior::exit(rng.secs(20), [0, 1][rng.below(2) as usize]),
            })
            .collect();
        s = s.script(c, b);
    }
    if rng.below(3) != 0 {
        s = s.delete_at(rng.secs(40), None);
    }
    (s, inits, sidecars, mains)
}

/// The engine's invariants over 300 random pods run against the fake runtime: never two
/// instances of one container at once; no main container starts before every init container
/// has run and every sidecar has started; once the pod ends, main containers are stopped before
/// any sidecar and sidecars in reverse order of declaration; a deleted pod ends.
#[test]
fn random_pods_keep_the_engines_invariants() {
    for seed in 1..=300u64 {
        let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15));
        let (scenario, inits, sidecars, mains) = random_scenario(&mut rng);
        let deletes = !scenario.deletes.is_empty();
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a runtime");
        let r = rt.block_on(scenario.run());
        let why = |what: &str| format!("seed {seed}: {what}\n{:#?}", r.marks);
        for c in inits.iter().chain(&sidecars).chain(&mains) {
            let mut running = false;
            for m in r.marks.iter().filter(|m| &m.container == c) {
                match m.what.as_str() {
                    "Started" => {
                        assert!(!running, "{}", why(&format!("two instances of {c}")));
                        running = true;
                    }
                    "Exiting" => running = false,
                    _ => {}
                }
            }
        }
        for m in &mains {
            let Some(&start) = r.at(m, "Starting").first() else {
                continue;
            };
            for i in &inits {
                assert!(
                    r.at(i, "Exiting").first().is_some_and(|e| *e <= start),
                    "{}",
                    why(&format!("{m} started before init container {i} ran"))
                );
            }
            for sc in &sidecars {
                assert!(
                    r.at(sc, "Started").first().is_some_and(|e| *e <= start),
                    "{}",
                    why(&format!("{m} started before sidecar {sc}"))
                );
            }
        }
        if deletes {
            assert!(r.outcome.is_some(), "{}", why("a deleted pod never ended"));
        }
        if r.outcome.is_some() {
            // The stop signals of the pod's end: main containers first, then sidecars in reverse
            // order of declaration. (Their exits may cross: a grace period that runs out lets
            // every turn begin at once, as the kubelet's termination ordering does.)
            let last_term = |c: &String| r.at(c, "SIGTERM").last().copied();
            let signalled: Vec<&String> =
                sidecars.iter().filter(|c| last_term(c).is_some()).collect();
            for m in mains.iter().filter_map(last_term) {
                for sc in &signalled {
                    assert!(
                        last_term(sc).is_some_and(|t| m <= t),
                        "{}",
                        why(&format!("sidecar {sc} was stopped before a main container"))
                    );
                }
            }
            for pair in signalled.windows(2) {
                assert!(
                    last_term(pair[1]) <= last_term(pair[0]),
                    "{}",
                    why(&format!(
                        "sidecar {} was stopped before {}",
                        pair[0], pair[1]
                    ))
                );
            }
        }
    }
}

// ---- the driver's bookkeeping (each test pins what a mutation of the driver broke unseen) -------

/// Only a pod being deleted is reported terminating (kubectl's `Terminating`), not one that
/// completes on its own; and only a deadline is a `DeadlineExceeded` event.
#[tokio::test(flavor = "current_thread")]
async fn only_a_deleted_pod_is_reported_terminating() {
    let done = Scenario::new(pod(Never, 30, &["app"]))
        .script("app", vec![exits(S, 0)])
        .run()
        .await;
    assert_eq!(done.phase(), PodPhase::Succeeded);
    assert!(
        !done.terminating().contains(&true),
        "{:?}",
        done.terminating()
    );
    assert!(done.events(EventReason::DeadlineExceeded).is_empty());
}

#[tokio::test(flavor = "current_thread")]
async fn a_deleted_pod_is_reported_terminating() {
    let deleted = Scenario::new(pod(Always, 30, &["app"]))
        .script("app", vec![serve()])
        .delete_at(S, None)
        .run()
        .await;
    let flags = deleted.terminating();
    assert_eq!(flags.first(), Some(&false), "{flags:?}");
    assert_eq!(flags.last(), Some(&true), "{flags:?}");
    assert!(deleted.events(EventReason::DeadlineExceeded).is_empty());
}

/// A handler run cut short by its container's exit belongs to that instance: the restarted
/// instance never hears of it (its readiness probe here only ever fails, never errors).
#[tokio::test(flavor = "current_thread")]
async fn a_result_for_an_earlier_instance_is_dropped() {
    let plan = with(pod(Always, 30, &["app"]), "app", |c| {
        let mut p = probe(0, 10, 3);
        p.timeout_seconds = 30;
        c.readiness_probe = Some(p);
    });
    let r = Scenario::new(plan)
        .script("app", vec![exits(S, 1), serve()])
        .handler("app", HandlerKind::Readiness, |attempt, _, _| {
            if attempt == 0 {
                HandlerScript::ok().taking(5 * S)
            } else {
                HandlerScript::fail()
            }
        })
        .until(4 * S)
        .run()
        .await;
    assert_eq!(r.starts("app"), 2);
    let stale: Vec<PodEvent> = r
        .events(EventReason::Unhealthy)
        .into_iter()
        .filter(|e| e.message.contains("errored"))
        .collect();
    assert!(stale.is_empty(), "{stale:?}");
}

/// One BackOff event per back-off, however often the engine looks at the pod meanwhile (here a
/// second container's probe wakes it every second).
#[tokio::test(flavor = "current_thread")]
async fn a_back_off_is_one_event_however_often_the_engine_runs() {
    let plan = with(pod(Always, 30, &["app", "side"]), "side", |c| {
        c.readiness_probe = Some(probe(0, 1, 3));
    });
    let r = Scenario::new(plan)
        .script("app", vec![exits(Duration::ZERO, 1)])
        .script("side", vec![serve()])
        .until(80 * S)
        .run()
        .await;
    let starts: Vec<u64> = r.at("app", "Starting").iter().map(|ms| ms / 1000).collect();
    assert_eq!(starts, [0, 0, 10, 30, 70]);
    // Back-offs before the starts at 10, 30 and 70 s, and the one after the exit at 70 s.
    assert_eq!(r.events(EventReason::BackOff).len(), 4);
}

/// A preStop hook cut short because its container exited by itself is no failure worth an event.
#[tokio::test(flavor = "current_thread")]
async fn a_prestop_cut_short_by_its_containers_exit_is_not_reported() {
    let plan = with(pod(Always, 30, &["app", "slow"]), "app", |c| {
        c.pre_stop = Some(exec())
    });
    // `slow` keeps the pod terminating after `app` exits, so the hook's end is heard.
    let r = Scenario::new(plan)
        .script("app", vec![exits(3 * S, 0)])
        .script("slow", vec![serve().term_after(5 * S)])
        .handler("app", HandlerKind::PreStop, |_, _, _| {
            HandlerScript::ok().taking(10 * S)
        })
        .delete_at(S, None)
        .run()
        .await;
    assert!(r.first("PreStop-app", "Started") < r.first("app", "Exiting"));
    assert!(r.events(EventReason::FailedPreStopHook).is_empty());
}

/// A container that was made but could not start (`RunContainerError`) ran and ended: exit code
/// 128, reason StartError, a restart counted; unlike a start that made no container.
#[tokio::test(flavor = "current_thread")]
async fn a_container_that_could_not_start_ended_with_128() {
    let r = Scenario::new(pod(Never, 30, &["app"]))
        .script(
            "app",
            vec![Behavior::start_error(StartFailure::RunContainerError)],
        )
        .until(60 * S)
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Failed);
    let t = r
        .container("app")
        .state
        .and_then(|s| s.terminated)
        .expect("terminated");
    assert_eq!(
        (t.exit_code, t.reason.as_deref()),
        (128, Some("StartError"))
    );
}

/// §3.4: readiness runs at once when the startup probe succeeds, not a readiness period later.
#[tokio::test(flavor = "current_thread")]
async fn readiness_runs_as_soon_as_the_startup_probe_succeeds() {
    let plan = with(pod(Always, 30, &["app"]), "app", |c| {
        c.startup_probe = Some(probe(0, 1, 30));
        c.readiness_probe = Some(probe(0, 60, 3));
    });
    let r = Scenario::new(plan)
        .script("app", vec![serve()])
        .handler("app", HandlerKind::Startup, |_, n, _| {
            if n < 2 {
                HandlerScript::fail()
            } else {
                HandlerScript::ok()
            }
        })
        .until(30 * S)
        .run()
        .await;
    let ready = r
        .statuses()
        .into_iter()
        .find(|(_, s)| condition(s, "Ready"))
        .map(|(t, _)| t)
        .expect("ready");
    assert!((2000..3000).contains(&ready), "ready at {ready} ms");
}

#[tokio::test(flavor = "current_thread")]
async fn ephemeral_containers_start_once_never_restart_and_leave_phase_and_readiness_alone() {
    // An Always pod: the debug container exits 1 and is not started again; the pod stays
    // Running and Ready meanwhile.
    let plan = pod(Always, 30, &["app"]);
    let r = Scenario::new(plan)
        .script("debugger", vec![exits(2 * S, 1)])
        .debug_at(5 * S, "debugger")
        .until(120 * S)
        .run()
        .await;
    assert_eq!(r.at("debugger", "Starting").len(), 1, "{:?}", r.marks);
    assert_near(r.first("debugger", "Starting"), 5000);
    let (_, last) = r.statuses().pop().expect("a status");
    let eph = last
        .ephemeral_container_statuses
        .clone()
        .unwrap_or_default();
    assert_eq!(eph.len(), 1, "{last:?}");
    let ended = eph[0].state.clone().and_then(|s| s.terminated);
    assert_eq!(ended.map(|t| t.exit_code), Some(1));
    assert_eq!((eph[0].ready, eph[0].restart_count), (false, 0));
    // The ids the runtime gave the instance.
    assert_eq!(
        (eph[0].container_id.as_deref(), eph[0].image_id.as_str()),
        (Some("fake://debugger-0"), "busybox@sha256:fake")
    );
    assert_eq!(last.phase.as_deref(), Some("Running"));
    assert!(condition(&last, "Ready"), "{last:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn an_ephemeral_container_still_running_does_not_keep_a_completed_pod() {
    // A Never pod whose only main container succeeds while the debug container still runs: the
    // pod ends Succeeded, the debug container killed with the rest.
    let plan = pod(Never, 30, &["app"]);
    let r = Scenario::new(plan)
        .script("app", vec![exits(10 * S, 0)])
        .script("debugger", vec![serve().term_after(S)])
        .debug_at(2 * S, "debugger")
        .run()
        .await;
    assert_eq!(r.phase(), PodPhase::Succeeded);
    assert_eq!(r.at("debugger", "SIGTERM").len(), 1, "{:?}", r.marks);
    assert!(r.first("debugger", "SIGTERM") >= 10_000);
}
