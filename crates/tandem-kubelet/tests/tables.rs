//! The kubelet's unit-test tables (docs/kubelet-rules.md §7.J) as table tests of the pure decision
//! function: `computeInitContainerActions`/`computePodActions` (U-K1..U-K3) through
//! [`compute_actions`], and `getPhase` (U-P1..U-P8) through [`phase`] and [`final_phase`].
//! The sandbox rows (U-K1 #7–#9, #13–#15, U-K2 #4, #11–#13) go through the engine's staged
//! decision (kills, then a new sandbox, then starts). Rows about spec-hash changes and the
//! runtime's Unknown/Created states have no counterpart in tandem (synchronous runtime states).

use std::time::Duration;

use tandem_api::plan::*;
use tandem_kubelet::action::{Action, Decision, PodPhase};
use tandem_kubelet::probe::{ProbeKind, ProbeResult};
use tandem_kubelet::sandbox::should_recreate_sandbox;
use tandem_kubelet::state::{
    Exit, KillReason, Observed, RunState, SandboxState, TerminationReason, WaitingReason,
};
use tandem_kubelet::status::{phase, qos_class, PodFacts};
use tandem_kubelet::sync::{compute_actions, final_phase};
use tokio::time::Instant;

use RestartPolicy::{Always, Never, OnFailure};

mod support;
use support::pod;

/// One container's runtime state in a row.
#[derive(Clone, Copy, Debug)]
enum St {
    /// No status.
    Nil,
    Running,
    /// Exited with this code.
    Exited(i32),
    /// Waiting to restart after an exit with this code (crash loop).
    Looping(i32),
}

fn observe(plan: &PodPlan, states: &[(&str, St)], t0: Instant) -> Observed {
    let mut obs = Observed::new(plan);
    for (name, st) in states {
        let r = obs.get_mut(name);
        match st {
            St::Nil => {}
            St::Running => {
                r.starts = 1;
                r.state = RunState::Running { since: t0 };
            }
            St::Exited(code) => {
                r.starts = 1;
                r.state = RunState::Exited(Exit::from_code(*code, None, false, Some(t0), t0));
            }
            St::Looping(code) => {
                r.starts = 2;
                let e = Exit::from_code(*code, None, false, Some(t0), t0);
                r.last_exit = Some(e.clone());
                r.state = RunState::Exited(e);
                r.waiting = Some((WaitingReason::CrashLoopBackOff, String::new()));
            }
        }
    }
    obs
}

fn decide(plan: &PodPlan, obs: &Observed, t0: Instant) -> Decision {
    compute_actions(plan, obs, t0 + Duration::from_secs(1))
}

// ---- U-K1 TestComputePodActions (main containers foo1..foo3) -----------------------------------

#[test]
fn u_k1_compute_pod_actions() {
    let t0 = Instant::now();
    use St::*;
    // (name, policy, foo1, foo2, foo3, liveness/startup failure on foo2, starts, kills)
    type Row = (
        &'static str,
        RestartPolicy,
        [St; 3],
        Option<ProbeKind>,
        &'static [&'static str],
        &'static [&'static str],
    );
    let rows: &[Row] = &[
        (
            "1 everything is good; do nothing",
            Always,
            [Running, Running, Running],
            None,
            &[],
            &[],
        ),
        (
            "2 start all containers for a new pod",
            Always,
            [Nil, Nil, Nil],
            None,
            &["foo1"],
            &[],
        ),
        (
            "3 restart exited containers if RestartPolicy == Always",
            Always,
            [Exited(0), Exited(111), Running],
            None,
            &["foo1"],
            &[],
        ),
        (
            "4 restart failed containers if RestartPolicy == OnFailure",
            OnFailure,
            [Exited(0), Exited(111), Running],
            None,
            &["foo2"],
            &[],
        ),
        (
            "6 don't restart containers if RestartPolicy == Never",
            Never,
            [Exited(0), Exited(111), Running],
            None,
            &[],
            &[],
        ),
        (
            "11 kill and recreate the container if the liveness check has failed",
            Always,
            [Running, Running, Running],
            Some(ProbeKind::Liveness),
            &[],
            &["foo2"],
        ),
        (
            "12 kill and recreate the container if the startup check has failed",
            Always,
            [Running, Running, Running],
            Some(ProbeKind::Startup),
            &[],
            &["foo2"],
        ),
    ];
    for (name, policy, states, failed, starts, kills) in rows {
        let mut plan = pod(*policy, 30, &["foo1", "foo2", "foo3"]);
        if let Some(kind) = failed {
            let p = Probe {
                handler: Handler::Exec {
                    command: vec!["true".into()],
                },
                initial_delay_seconds: 0,
                timeout_seconds: 1,
                period_seconds: 10,
                success_threshold: 1,
                failure_threshold: 3,
                termination_grace_period_seconds: None,
            };
            match kind {
                ProbeKind::Liveness => plan.containers[1].liveness_probe = Some(p),
                _ => plan.containers[1].startup_probe = Some(p),
            }
        }
        let mut obs = observe(
            &plan,
            &[
                ("foo1", states[0]),
                ("foo2", states[1]),
                ("foo3", states[2]),
            ],
            t0,
        );
        if let Some(kind) = failed {
            let r = obs.get_mut("foo2");
            if *kind == ProbeKind::Startup {
                r.probes.get_mut(ProbeKind::Startup).result = ProbeResult::Failure;
            } else {
                r.probes.get_mut(ProbeKind::Liveness).result = ProbeResult::Failure;
            }
        }
        let d = decide(&plan, &obs, t0);
        // Main containers start one at a time (§1.4): the first of the kubelet's list.
        assert_eq!(d.starts(), starts.to_vec(), "{name}");
        assert_eq!(d.kills(), kills.to_vec(), "{name}");
        assert!(!d.kills_pod(), "{name}");
    }
    // 6 with every container done under Never ends the pod (KillPod).
    let plan = pod(Never, 30, &["foo1", "foo2", "foo3"]);
    let obs = observe(
        &plan,
        &[
            ("foo1", St::Exited(0)),
            ("foo2", St::Exited(1)),
            ("foo3", St::Exited(0)),
        ],
        t0,
    );
    assert!(decide(&plan, &obs, t0).kills_pod());
}

// ---- U-K2 TestComputePodActionsWithInitContainers (init1..3, foo1..3) -------------------------

#[test]
fn u_k2_compute_pod_actions_with_init_containers() {
    let t0 = Instant::now();
    use St::*;
    type Row = (
        &'static str,
        RestartPolicy,
        [St; 3],
        &'static [&'static str],
        bool,
    );
    let rows: &[Row] = &[
        ("1 initialization completed; start all containers", Always, [Exited(0), Exited(0), Exited(0)], &["foo1"], false),
        ("2 no init containers have been started; start the first one", Always, [Nil, Nil, Nil], &["init1"], false),
        ("3 initialization in progress; do nothing", Always, [Exited(0), Exited(0), Running], &[], false),
        ("5 initialization failed; restart the last init container if RestartPolicy == Always", Always, [Exited(0), Exited(0), Exited(137)], &["init3"], false),
        ("6 initialization failed; restart the last init container if RestartPolicy == OnFailure", OnFailure, [Exited(0), Exited(0), Exited(137)], &["init3"], false),
        ("7 initialization failed; kill pod if RestartPolicy == Never", Never, [Exited(0), Exited(0), Exited(137)], &[], true),
        ("14 some init statuses are missing but the last is running; don't restart preceding ones", Always, [Nil, Nil, Running], &[], false),
    ];
    for (name, policy, states, starts, kill_pod) in rows {
        let plan = pod(
            *policy,
            30,
            &[
                "init:init1",
                "init:init2",
                "init:init3",
                "foo1",
                "foo2",
                "foo3",
            ],
        );
        let obs = observe(
            &plan,
            &[
                ("init1", states[0]),
                ("init2", states[1]),
                ("init3", states[2]),
            ],
            t0,
        );
        let d = decide(&plan, &obs, t0);
        assert_eq!(d.starts(), starts.to_vec(), "{name}");
        assert_eq!(d.kills_pod(), *kill_pod, "{name}");
    }
}

// ---- §2.3 sandbox rows of U-K1 and U-K2 -----------------------------------------------------

/// What the engine does about a dead sandbox, gathered over its stages: the kubelet's one-step
/// `KillPod` / `CreateSandbox` / `Attempt` / containers to start.
#[derive(Debug, PartialEq)]
struct SandboxRow {
    /// The kubelet's KillPod.
    kill_pod: bool,
    /// Containers killed for the new sandbox.
    kills: Vec<String>,
    /// The new sandbox's attempt, if one is made.
    create: Option<u32>,
    /// What starts in the new sandbox, in order, each started one kept running.
    starts: Vec<String>,
}

fn sandbox_row(plan: &PodPlan, mut obs: Observed, t0: Instant) -> SandboxRow {
    let now = t0 + Duration::from_secs(1);
    let d = compute_actions(plan, &obs, now);
    let mut row = SandboxRow {
        kill_pod: d.kills_pod() || d.actions.contains(&Action::ReplaceSandbox),
        kills: vec![],
        create: None,
        starts: vec![],
    };
    if d.kills_pod() {
        // No new sandbox: the pod is torn down with what ran.
        assert!(
            d.actions
                .iter()
                .all(|a| !matches!(a, Action::CreateSandbox { .. })),
            "{d:?}"
        );
        return row;
    }
    assert!(
        d.starts().is_empty(),
        "nothing starts without a sandbox: {d:?}"
    );
    row.kills = d.kills().iter().map(|k| k.to_string()).collect();
    // The kills done: every killed container exited 137.
    obs.sandbox.state = SandboxState::Replacing;
    for k in &row.kills {
        let r = obs.get_mut(k);
        r.killed_for = Some(KillReason::SandboxChanged);
        r.state = RunState::Exited(Exit::from_code(137, Some(9), false, Some(t0), now));
    }
    let d = compute_actions(plan, &obs, now);
    let attempt = d.actions.iter().find_map(|a| match a {
        Action::CreateSandbox { attempt } => Some(*attempt),
        _ => None,
    });
    let Some(attempt) = attempt else {
        panic!("no CreateSandbox once everything stopped: {d:?}")
    };
    row.create = Some(attempt);
    obs.sandbox_created(plan, attempt, now);
    // Start one at a time (§1.4), as the driver would, until the engine starts nothing more.
    loop {
        let d = compute_actions(plan, &obs, now);
        let starts: Vec<String> = d.starts().iter().map(|s| s.to_string()).collect();
        if starts.is_empty() {
            return row;
        }
        for s in starts {
            let r = obs.get_mut(&s);
            if let RunState::Exited(e) = &r.state {
                r.last_exit = Some(e.clone());
            }
            r.starts += 1;
            r.killed_for = None;
            r.state = RunState::Running { since: now };
            row.starts.push(s);
        }
    }
}

#[test]
fn u_k1_sandbox_rows_7_9_13_15() {
    let t0 = Instant::now();
    use St::*;
    let row = |kill_pod, kills: &[&str], create, starts: &[&str]| SandboxRow {
        kill_pod,
        kills: kills.iter().map(|s| s.to_string()).collect(),
        create,
        starts: starts.iter().map(|s| s.to_string()).collect(),
    };
    // (name, policy, foo1..3, current sandbox attempt, expected)
    let rows: Vec<(&str, RestartPolicy, [St; 3], u32, SandboxRow)> = vec![
        (
            "7 kill pod and recreate everything if the pod sandbox is dead, and RestartPolicy == Always",
            Always,
            [Running, Running, Running],
            0,
            row(true, &["foo1", "foo2", "foo3"], Some(1), &["foo1", "foo2", "foo3"]),
        ),
        (
            "8 kill pod and recreate all containers (except for the succeeded one) if the pod sandbox is dead, and RestartPolicy == OnFailure",
            OnFailure,
            [Running, Exited(0), Running],
            0,
            row(true, &["foo1", "foo3"], Some(1), &["foo1", "foo3"]),
        ),
        (
            // tandem notices a sandbox's loss only by its pause process dying; a sandbox without
            // an IP is the same observation (not ready), so the row decides as row 7.
            "9 kill pod and recreate all containers if the PodSandbox does not have an IP",
            Always,
            [Running, Running, Running],
            0,
            row(true, &["foo1", "foo2", "foo3"], Some(1), &["foo1", "foo2", "foo3"]),
        ),
        (
            "13 no new sandbox for a pod with RestartPolicy == Never and all containers exited",
            Never,
            [Exited(0), Exited(1), Exited(0)],
            1,
            row(true, &[], None, &[]),
        ),
        (
            "14 no new sandbox for a pod with RestartPolicy == OnFailure and all containers succeeded",
            OnFailure,
            [Exited(0), Exited(0), Exited(0)],
            1,
            row(true, &[], None, &[]),
        ),
        (
            "15 a new sandbox for a pod with RestartPolicy == Never and no containers ever created",
            Never,
            [Nil, Nil, Nil],
            2,
            row(true, &[], Some(3), &["foo1", "foo2", "foo3"]),
        ),
        (
            // The kubelet's condition is any container status, running ones included.
            "Never with containers running: kill pod only",
            Never,
            [Running, Exited(0), Running],
            0,
            row(true, &[], None, &[]),
        ),
        (
            "Always with a crash-looping container: all three start again",
            Always,
            [Running, Looping(1), Running],
            0,
            row(true, &["foo1", "foo3"], Some(1), &["foo1", "foo2", "foo3"]),
        ),
    ];
    for (name, policy, states, attempt, want) in rows {
        let plan = pod(policy, 30, &["foo1", "foo2", "foo3"]);
        let mut obs = observe(
            &plan,
            &[
                ("foo1", states[0]),
                ("foo2", states[1]),
                ("foo3", states[2]),
            ],
            t0,
        );
        obs.sandbox.attempt = attempt;
        assert!(obs.sandbox_lost(attempt), "{name}");
        assert_eq!(
            should_recreate_sandbox(&plan, &obs),
            want.create.is_some(),
            "{name}"
        );
        assert_eq!(sandbox_row(&plan, obs, t0), want, "{name}");
    }
}

#[test]
fn u_k2_sandbox_rows_4_11_13() {
    let t0 = Instant::now();
    use St::*;
    // (name, policy, init1..3, new sandbox attempt or none, starts)
    type Row = (
        &'static str,
        RestartPolicy,
        [St; 3],
        Option<u32>,
        &'static [&'static str],
    );
    let rows: &[Row] = &[
        ("4 kill pod and restart the first init container if the pod sandbox is dead", Always, [Exited(0), Exited(0), Exited(0)], Some(1), &["init1"]),
        ("11 pod sandbox not ready, init container failed, but RestartPolicy == Never; kill pod only", Never, [Exited(0), Exited(0), Exited(137)], None, &[]),
        ("12 pod sandbox not ready, RestartPolicy == Never, but no visible init containers; create a new pod sandbox", Never, [Nil, Nil, Nil], Some(1), &["init1"]),
        ("13 pod sandbox not ready, init container failed, and RestartPolicy == OnFailure; create a new pod sandbox", OnFailure, [Exited(0), Exited(0), Exited(137)], Some(1), &["init1"]),
        ("an init container running when the sandbox dies is killed; init1 starts again", Always, [Exited(0), Running, Nil], Some(1), &["init1"]),
    ];
    for (name, policy, states, create, starts) in rows {
        let plan = pod(
            *policy,
            30,
            &[
                "init:init1",
                "init:init2",
                "init:init3",
                "foo1",
                "foo2",
                "foo3",
            ],
        );
        let mut obs = observe(
            &plan,
            &[
                ("init1", states[0]),
                ("init2", states[1]),
                ("init3", states[2]),
            ],
            t0,
        );
        assert!(obs.sandbox_lost(0), "{name}");
        let row = sandbox_row(&plan, obs, t0);
        assert!(row.kill_pod, "{name}");
        assert_eq!(row.create, *create, "{name}");
        assert_eq!(row.starts, starts.to_vec(), "{name}");
    }
}

#[test]
fn a_new_sandbox_reruns_initialization_with_the_pod_pending_and_not_initialized() {
    let t0 = Instant::now();
    use St::*;
    let plan = pod(Always, 30, &["init:init1", "init:init2", "foo1"]);
    let mut obs = observe(
        &plan,
        &[
            ("init1", Exited(0)),
            ("init2", Exited(0)),
            ("foo1", Exited(137)),
        ],
        t0,
    );
    obs.get_mut("foo1").killed_for = Some(KillReason::SandboxChanged);
    obs.sandbox.state = SandboxState::Creating;
    let now = t0 + Duration::from_secs(1);
    obs.sandbox_created(&plan, 1, now);
    let facts = PodFacts {
        sandbox_ready: true,
        ..Default::default()
    };
    assert_eq!(phase(&plan, &obs, &facts), PodPhase::Pending);
    let clock = tandem_kubelet::status::Clock {
        origin: t0,
        origin_wall_us: 0,
    };
    let status = tandem_kubelet::status::pod_status(&plan, &obs, &facts, &clock);
    let cond = |t: &str| {
        status
            .conditions
            .iter()
            .flatten()
            .find(|c| c.type_ == t)
            .map(|c| c.status.clone())
    };
    assert_eq!(cond("Initialized").as_deref(), Some("False"));
    assert_eq!(cond("PodReadyToStartContainers").as_deref(), Some("True"));
    // The purged init containers keep their restart counts and show their last run.
    let init1 = status
        .init_container_statuses
        .iter()
        .flatten()
        .find(|s| s.name == "init1")
        .cloned()
        .expect("init1");
    assert_eq!(init1.restart_count, 0);
    assert!(init1.state.and_then(|s| s.waiting).is_some());
    assert!(init1.last_state.and_then(|s| s.terminated).is_some());
    // A report about the old sandbox changes nothing.
    assert!(!obs.sandbox_lost(0));
    assert_eq!(compute_actions(&plan, &obs, now).starts(), ["init1"]);
}

// ---- U-K3 TestComputePodActionsWithRestartableInitContainers ------------------------------------

#[test]
fn u_k3_compute_pod_actions_with_restartable_init_containers() {
    let t0 = Instant::now();
    use ProbeResult::{Failure as F, Success as Ok, Unknown as U};
    use St::*;
    /// (name, policy, ri1..3, mains, liveness of ri2/ri3, startup of ri2/ri3, starts, kills, kill pod)
    struct Row {
        name: &'static str,
        policy: RestartPolicy,
        ri: [St; 3],
        mains: St,
        liveness: [Option<ProbeResult>; 2],
        startup: [Option<ProbeResult>; 2],
        starts: &'static [&'static str],
        kills: &'static [&'static str],
        kill_pod: bool,
    }
    let base = Row {
        name: "",
        policy: Always,
        ri: [Running, Running, Running],
        mains: Nil,
        liveness: [Some(Ok), Some(Ok)],
        startup: [Some(Ok), Some(Ok)],
        starts: &[],
        kills: &[],
        kill_pod: false,
    };
    let rows = vec![
        Row { name: "1 initialization completed; start all containers", starts: &["foo1"], ..base },
        Row { name: "2 no init containers have been started; start the first one", ri: [Nil, Nil, Nil], starts: &["ri1"], ..base },
        Row { name: "4 restartable init container has started; start the next", ri: [Running, Nil, Nil], starts: &["ri2"], ..base },
        Row { name: "5 livenessProbe has not been run; start the next", ri: [Running, Running, Nil], liveness: [Option::None, Option::None], starts: &["ri3"], ..base },
        Row { name: "6 livenessProbe in progress; start the next", ri: [Running, Running, Nil], liveness: [Some(U), Some(U)], starts: &["ri3"], ..base },
        Row { name: "7 livenessProbe has completed; start the next", ri: [Running, Running, Nil], starts: &["ri3"], ..base },
        Row { name: "8 kill and recreate the restartable init container if the liveness check has failed", liveness: [Some(Ok), Some(F)], starts: &["foo1"], kills: &["ri3"], ..base },
        Row { name: "9 startupProbe has not been run; do nothing", ri: [Running, Running, Nil], startup: [Some(U), Some(U)], ..base },
        Row { name: "10 startupProbe in progress; do nothing", ri: [Running, Running, Nil], startup: [Some(U), Some(U)], ..base },
        Row { name: "11 startupProbe has completed; start the next", ri: [Running, Running, Nil], starts: &["ri3"], ..base },
        Row { name: "12 kill and recreate the restartable init container if the startup check has failed", startup: [Some(Ok), Some(F)], kills: &["ri3"], ..base },
        Row { name: "14 restart terminated restartable init container and next init container", ri: [Exited(0), Running, Exited(0)], starts: &["ri1", "ri3"], ..base },
        Row { name: "15 restart terminated restartable init container and regular containers", ri: [Exited(0), Running, Running], starts: &["ri1", "foo1"], ..base },
        Row { name: "20 restart the last restartable init container even if pod's RestartPolicy == Never", policy: Never, ri: [Running, Running, Exited(137)], starts: &["ri3"], ..base },
        Row { name: "22 restart restartable init container if regular containers are running even if Never", policy: Never, ri: [Running, Running, Exited(137)], mains: Running, starts: &["ri3"], ..base },
        Row { name: "23 kill the pod if all main containers succeeded if pod's RestartPolicy == Never", policy: Never, mains: Exited(0), kill_pod: true, ..base },
        Row { name: "24 some init statuses are missing but the last is running; restart sidecars and mains", ri: [Nil, Nil, Running], mains: Running, starts: &["ri1", "ri2"], ..base },
    ];
    for row in rows {
        let plan = pod(
            row.policy,
            30,
            &[
                "sidecar:ri1",
                "sidecar:ri2",
                "sidecar:ri3",
                "foo1",
                "foo2",
                "foo3",
            ],
        );
        let mut plan = plan;
        let p = Probe {
            handler: Handler::Exec {
                command: vec!["true".into()],
            },
            initial_delay_seconds: 0,
            timeout_seconds: 1,
            period_seconds: 10,
            success_threshold: 1,
            failure_threshold: 3,
            termination_grace_period_seconds: None,
        };
        for c in &mut plan.init_containers[1..] {
            c.liveness_probe = Some(p.clone());
            c.startup_probe = Some(p.clone());
        }
        let mut states = vec![("ri1", row.ri[0]), ("ri2", row.ri[1]), ("ri3", row.ri[2])];
        for m in ["foo1", "foo2", "foo3"] {
            states.push((m, row.mains));
        }
        let mut obs = observe(&plan, &states, t0);
        for (i, name) in ["ri2", "ri3"].iter().enumerate() {
            let r = obs.get_mut(name);
            // An absent result is the worker's initial one (§3.3): liveness Success, startup Unknown.
            r.probes.get_mut(ProbeKind::Liveness).result = row.liveness[i].unwrap_or(Ok);
            r.probes.get_mut(ProbeKind::Startup).result = row.startup[i].unwrap_or(U);
        }
        let d = decide(&plan, &obs, t0);
        assert_eq!(d.starts(), row.starts.to_vec(), "{}", row.name);
        assert_eq!(d.kills(), row.kills.to_vec(), "{}", row.name);
        assert_eq!(d.kills_pod(), row.kill_pod, "{}", row.name);
    }
}

// ---- U-P getPhase tables -------------------------------------------------------------------------

fn phase_of(plan: &PodPlan, states: &[(&str, St)], started: bool) -> PodPhase {
    let t0 = Instant::now();
    let mut obs = observe(plan, states, t0);
    if !started {
        // A sidecar that runs but whose startup probe has not succeeded.
        for c in &plan.init_containers {
            if c.role == ContainerRole::Sidecar {
                obs.get_mut(&c.name)
                    .probes
                    .get_mut(ProbeKind::Startup)
                    .result = ProbeResult::Unknown;
            }
        }
    }
    phase(plan, &obs, &PodFacts::default())
}

#[test]
fn u_p1_u_p5_u_p8_phase_of_main_containers() {
    use PodPhase::{Failed, Pending, Succeeded};
    const RUNNING: PodPhase = PodPhase::Running;
    use St::*;
    let rows: &[(RestartPolicy, St, St, PodPhase)] = &[
        (Always, Nil, Nil, Pending),
        (Always, Running, Running, RUNNING),
        (Always, Exited(0), Exited(0), RUNNING),
        (Always, Running, Exited(0), RUNNING),
        (Always, Running, Nil, Pending),
        (Always, Running, Looping(1), RUNNING),
        (Never, Nil, Nil, Pending),
        (Never, Running, Running, RUNNING),
        (Never, Exited(0), Exited(0), Succeeded),
        (Never, Exited(1), Exited(1), Failed),
        (Never, Running, Exited(0), RUNNING),
        (Never, Running, Nil, Pending),
        (OnFailure, Nil, Nil, Pending),
        (OnFailure, Running, Running, RUNNING),
        (OnFailure, Exited(0), Exited(0), Succeeded),
        (OnFailure, Exited(1), Exited(1), RUNNING),
        (OnFailure, Running, Exited(0), RUNNING),
        (OnFailure, Running, Nil, Pending),
        (OnFailure, Running, Looping(1), RUNNING),
    ];
    for (policy, a, b, want) in rows {
        let plan = pod(*policy, 30, &["A", "B"]);
        assert_eq!(
            phase_of(&plan, &[("A", *a), ("B", *b)], true),
            *want,
            "{policy:?} {a:?} {b:?}"
        );
    }
}

#[test]
fn u_p2_u_p6_phase_with_init_containers() {
    use PodPhase::{Failed, Pending};
    const RUNNING: PodPhase = PodPhase::Running;
    use St::*;
    let rows: &[(RestartPolicy, St, St, PodPhase)] = &[
        (Always, Nil, Nil, Pending),
        (Always, Running, Nil, Pending),
        (Always, Exited(1), Nil, Pending),
        (Always, Looping(0), Nil, Pending),
        (Always, Looping(1), Nil, Pending),
        (Always, Exited(0), Running, RUNNING),
        (Never, Nil, Nil, Pending),
        (Never, Running, Nil, Pending),
        (Never, Exited(1), Nil, Failed),
        (Never, Exited(0), Running, RUNNING),
    ];
    for (policy, x, ab, want) in rows {
        let plan = pod(*policy, 30, &["init:X", "A", "B"]);
        let got = phase_of(&plan, &[("X", *x), ("A", *ab), ("B", *ab)], true);
        assert_eq!(got, *want, "{policy:?} X={x:?} A,B={ab:?}");
    }
}

#[test]
fn u_p3_u_p7_phase_with_a_sidecar() {
    use PodPhase::{Pending, Succeeded};
    const RUNNING: PodPhase = PodPhase::Running;
    use St::*;
    // (policy, X, A, B, X started, phase)
    let rows: &[(RestartPolicy, St, St, St, bool, PodPhase)] = &[
        (Always, Nil, Nil, Nil, true, Pending),
        (Always, Running, Nil, Nil, true, Pending),
        (Always, Exited(0), Nil, Nil, true, Pending),
        (Always, Running, Running, Nil, true, Pending),
        (Always, Running, Running, Running, true, RUNNING),
        (Always, Running, Running, Running, false, RUNNING),
        (Always, Exited(1), Running, Running, true, RUNNING),
        (Always, Looping(1), Running, Running, true, RUNNING),
        (Never, Running, Exited(0), Exited(0), true, RUNNING),
        (Never, Exited(1), Exited(0), Exited(0), true, Succeeded),
        (Never, Exited(0), Exited(0), Exited(0), true, Succeeded),
        (Never, Looping(1), Exited(0), Exited(0), true, Succeeded),
    ];
    for (policy, x, a, b, started, want) in rows {
        let plan = pod(*policy, 30, &["sidecar:X", "A", "B"]);
        let plan = if *started {
            plan
        } else {
            let mut plan = plan;
            plan.init_containers[0].startup_probe = Some(Probe {
                handler: Handler::Exec {
                    command: vec!["true".into()],
                },
                initial_delay_seconds: 0,
                timeout_seconds: 1,
                period_seconds: 10,
                success_threshold: 1,
                failure_threshold: 3,
                termination_grace_period_seconds: None,
            });
            plan
        };
        let got = phase_of(&plan, &[("X", *x), ("A", *a), ("B", *b)], *started);
        assert_eq!(
            got, *want,
            "{policy:?} X={x:?} A={a:?} B={b:?} started={started}"
        );
    }
}

#[test]
fn u_p_terminal_phase_comes_from_main_containers_only() {
    let t0 = Instant::now();
    use St::*;
    let rows: &[(St, St, St, PodPhase)] = &[
        (Exited(137), Exited(0), Exited(0), PodPhase::Succeeded),
        (Exited(0), Exited(0), Exited(1), PodPhase::Failed),
        (Exited(1), Exited(137), Exited(0), PodPhase::Failed),
    ];
    for (x, a, b, want) in rows {
        let plan = pod(Never, 30, &["sidecar:X", "A", "B"]);
        let obs = observe(&plan, &[("X", *x), ("A", *a), ("B", *b)], t0);
        assert_eq!(
            final_phase(&plan, &obs, TerminationReason::Completed),
            *want
        );
    }
    let plan = pod(Never, 30, &["init:I", "A"]);
    let obs = observe(&plan, &[("I", Exited(1))], t0);
    assert_eq!(
        final_phase(&plan, &obs, TerminationReason::InitFailed),
        PodPhase::Failed
    );
}

#[test]
fn qos_class_counts_every_container_including_sidecars() {
    let set = |c: &mut ContainerPlan,
               req: (Option<u64>, Option<u64>),
               lim: (Option<u64>, Option<u64>)| {
        c.resources.requests.cpu_millis = req.0;
        c.resources.requests.memory_bytes = req.1;
        c.resources.limits.cpu_millis = lim.0;
        c.resources.limits.memory_bytes = lim.1;
    };
    let mut p = pod(Always, 30, &["sidecar:proxy", "app"]);
    assert_eq!(qos_class(&p), "BestEffort");
    // Limits only: requests default to them.
    set(
        &mut p.containers[0],
        (None, None),
        (Some(500), Some(64 << 20)),
    );
    assert_eq!(qos_class(&p), "Burstable", "the sidecar has nothing");
    set(
        &mut p.init_containers[0],
        (Some(100), Some(16 << 20)),
        (Some(100), Some(16 << 20)),
    );
    assert_eq!(qos_class(&p), "Guaranteed");
    set(
        &mut p.init_containers[0],
        (Some(50), Some(16 << 20)),
        (Some(100), Some(16 << 20)),
    );
    assert_eq!(qos_class(&p), "Burstable", "request below limit");
    set(&mut p.init_containers[0], (None, None), (Some(100), None));
    assert_eq!(qos_class(&p), "Burstable", "no memory limit");
    set(&mut p.init_containers[0], (Some(0), None), (None, None));
    set(&mut p.containers[0], (None, None), (None, None));
    assert_eq!(qos_class(&p), "BestEffort", "zero requests count as none");
}

// ---- KEP-5307 per-container restart policy and rules (§2.7, U-P9, U-P10) -------------------------

fn own_policy(
    plan: &mut PodPlan,
    name: &str,
    policy: RestartPolicy,
    rules: &[(ExitCodeOperator, &[i32])],
) {
    let c = plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
        .find(|c| c.name == name)
        .expect("container in plan");
    c.restart_policy = Some(policy);
    c.restart_rules = rules
        .iter()
        .map(|(operator, values)| RestartRule {
            operator: *operator,
            values: values.to_vec(),
            action: RestartAction::Restart,
        })
        .collect();
}

#[test]
fn container_should_restart_and_is_container_restartable() {
    use tandem_kubelet::rules::{container_should_restart, is_container_restartable};
    use ExitCodeOperator::{In, NotIn};
    // (pod policy, container policy, rules, exit code, should restart, restartable)
    type Row = (
        RestartPolicy,
        Option<RestartPolicy>,
        &'static [(ExitCodeOperator, &'static [i32])],
        i32,
        bool,
        bool,
    );
    let rows: &[Row] = &[
        (Never, Some(Never), &[(In, &[42])], 42, true, true),
        (Never, Some(Never), &[(In, &[42])], 1, false, true),
        (Never, Some(Never), &[(NotIn, &[0, 1])], 2, true, true),
        (Never, Some(Never), &[(NotIn, &[0, 1])], 1, false, true),
        (Always, Some(Never), &[], 1, false, false),
        (Always, Some(Never), &[], 0, false, false),
        (Never, Some(Always), &[], 1, true, true),
        (Never, Some(Always), &[], 0, true, true),
        (Never, Some(OnFailure), &[], 1, true, true),
        (Never, Some(OnFailure), &[], 0, false, true),
        // A matching rule wins over the container's policy, the first match deciding.
        (Always, Some(OnFailure), &[(In, &[0])], 0, true, true),
        (Always, None, &[], 1, true, true),
        (Always, None, &[], 0, true, true),
        (OnFailure, None, &[], 0, false, true),
        (Never, None, &[], 1, false, false),
    ];
    for (pod_policy, own, rules, code, restart, restartable) in rows {
        let mut plan = pod(*pod_policy, 30, &["A"]);
        if let Some(own) = own {
            own_policy(&mut plan, "A", *own, rules);
        }
        let c = &plan.containers[0];
        let row = format!("pod {pod_policy:?}, container {own:?} {rules:?}, exit {code}");
        assert_eq!(container_should_restart(&plan, c, *code), *restart, "{row}");
        assert_eq!(is_container_restartable(&plan, c), *restartable, "{row}");
    }
    // Sidecars restart whatever happens; unset init-container policy inherits (Always → OnFailure).
    let plan = pod(Never, 30, &["sidecar:S", "init:I", "A"]);
    assert!(container_should_restart(&plan, &plan.init_containers[0], 0));
    assert!(is_container_restartable(&plan, &plan.init_containers[0]));
    let plan = pod(Always, 30, &["init:I", "A"]);
    assert!(container_should_restart(&plan, &plan.init_containers[0], 1));
    assert!(!container_should_restart(
        &plan,
        &plan.init_containers[0],
        0
    ));
    // Only a Restart rule makes a Never container restartable: a RestartAllContainers rule
    // restarts the pod's containers, which is not a restart of this one after a probe kill.
    let mut plan = pod(Never, 30, &["A"]);
    own_policy(&mut plan, "A", Never, &[(In, &[42])]);
    plan.containers[0].restart_rules[0].action = RestartAction::RestartAllContainers;
    assert!(!is_container_restartable(&plan, &plan.containers[0]));
}

#[test]
fn u_p9_phase_with_container_restart_policy() {
    use PodPhase::{Failed, Succeeded};
    const RUNNING: PodPhase = PodPhase::Running;
    use St::*;
    // (pod policy, A's own policy and state, B's own policy and state, phase)
    type Row = (
        RestartPolicy,
        (Option<RestartPolicy>, St),
        Option<(Option<RestartPolicy>, St)>,
        PodPhase,
    );
    let rows: &[Row] = &[
        (Always, (Some(Never), Exited(1)), None, Failed),
        (Always, (Some(OnFailure), Exited(1)), None, RUNNING),
        (Always, (Some(Always), Exited(1)), None, RUNNING),
        (
            Never,
            (Some(Always), Exited(0)),
            Some((None, Exited(1))),
            RUNNING,
        ),
        (
            Always,
            (Some(Never), Exited(1)),
            Some((Some(OnFailure), Exited(0))),
            Failed,
        ),
        (
            Always,
            (Some(Never), Exited(0)),
            Some((Some(OnFailure), Exited(0))),
            Succeeded,
        ),
        // A crash-looping container that will restart keeps the pod Running.
        (Never, (Some(OnFailure), Looping(1)), None, RUNNING),
    ];
    for (policy, (a_own, a), b, want) in rows {
        let names: &[&str] = if b.is_some() { &["A", "B"] } else { &["A"] };
        let mut plan = pod(*policy, 30, names);
        let mut states = vec![("A", *a)];
        if let Some(own) = a_own {
            own_policy(&mut plan, "A", *own, &[]);
        }
        if let Some((b_own, b)) = b {
            states.push(("B", *b));
            if let Some(own) = b_own {
                own_policy(&mut plan, "B", *own, &[]);
            }
        }
        assert_eq!(
            phase_of(&plan, &states, true),
            *want,
            "{policy:?} A={a_own:?}/{a:?} B={b:?}"
        );
    }
}

#[test]
fn u_p10_phase_with_container_restart_policy_on_init_containers() {
    use PodPhase::{Failed, Pending};
    use St::*;
    // An init container with its own Never fails an Always pod.
    let mut plan = pod(Always, 30, &["init:X", "A"]);
    own_policy(&mut plan, "X", Never, &[]);
    assert_eq!(phase_of(&plan, &[("X", Exited(1))], true), Failed);
    assert_eq!(phase_of(&plan, &[("X", Looping(1))], true), Failed);
    // An init container with its own OnFailure in a Never pod is retried: Pending.
    let mut plan = pod(Never, 30, &["init:X", "A"]);
    own_policy(&mut plan, "X", OnFailure, &[]);
    assert_eq!(phase_of(&plan, &[("X", Exited(1))], true), Pending);
    // A sidecar that failed in a Never pod: Pending.
    let plan = pod(Never, 30, &["sidecar:X", "A"]);
    assert_eq!(phase_of(&plan, &[("X", Exited(1))], true), Pending);
    // A rule that matches keeps a failed Never init container restartable.
    let mut plan = pod(Never, 30, &["init:X", "A"]);
    own_policy(&mut plan, "X", Never, &[(ExitCodeOperator::In, &[42])]);
    assert_eq!(phase_of(&plan, &[("X", Exited(42))], true), Pending);
    assert_eq!(phase_of(&plan, &[("X", Exited(1))], true), Failed);
}

#[test]
fn u_k_container_restart_policy_decides_what_starts() {
    use ExitCodeOperator::In;
    use St::*;
    let t0 = Instant::now();
    // Never pod, rule Restart on 42: 42 restarts (the first restart is immediate), 1 ends the pod.
    let mut plan = pod(Never, 30, &["A"]);
    own_policy(&mut plan, "A", Never, &[(In, &[42])]);
    let d = decide(&plan, &observe(&plan, &[("A", Exited(42))], t0), t0);
    assert_eq!((d.starts(), d.kills_pod()), (vec!["A"], false));
    let d = decide(&plan, &observe(&plan, &[("A", Exited(1))], t0), t0);
    assert_eq!((d.starts(), d.kills_pod()), (vec![], true));
    // Always pod, "try-once" container with its own Never next to a running one: left alone.
    let mut plan = pod(Always, 30, &["once", "web"]);
    own_policy(&mut plan, "once", Never, &[]);
    let d = decide(
        &plan,
        &observe(&plan, &[("once", Exited(1)), ("web", Running)], t0),
        t0,
    );
    assert_eq!((d.starts(), d.kills_pod()), (vec![], false));
    // Init container with its own Never in an Always pod: its failure kills the pod.
    let mut plan = pod(Always, 30, &["init:X", "A"]);
    own_policy(&mut plan, "X", Never, &[]);
    let d = decide(&plan, &observe(&plan, &[("X", Exited(1))], t0), t0);
    assert_eq!((d.starts(), d.kills_pod()), (vec![], true));
    // Init container with its own OnFailure in a Never pod: restarted.
    let mut plan = pod(Never, 30, &["init:X", "A"]);
    own_policy(&mut plan, "X", OnFailure, &[]);
    let d = decide(&plan, &observe(&plan, &[("X", Exited(1))], t0), t0);
    assert_eq!((d.starts(), d.kills_pod()), (vec!["X"], false));
    // Liveness failure of a container with its own Never: killed, and the message says no restart.
    let mut plan = pod(Always, 30, &["A"]);
    own_policy(&mut plan, "A", Never, &[]);
    plan.containers[0].liveness_probe = Some(Probe {
        handler: Handler::Exec {
            command: vec!["true".into()],
        },
        initial_delay_seconds: 0,
        timeout_seconds: 1,
        period_seconds: 10,
        success_threshold: 1,
        failure_threshold: 1,
        termination_grace_period_seconds: None,
    });
    let mut obs = observe(&plan, &[("A", Running)], t0);
    obs.get_mut("A").probes.get_mut(ProbeKind::Liveness).result = ProbeResult::Failure;
    let d = decide(&plan, &obs, t0);
    let messages: Vec<&str> = d
        .actions
        .iter()
        .filter_map(|a| match a {
            tandem_kubelet::action::Action::Kill { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(messages, ["Container A failed liveness probe"]);
}

// ---- The pod's own status fields ------------------------------------------------------------------

/// What the kubelet reports about the pod itself besides its phase: its addresses (pod IPs, IPv4
/// first, and the host's), when it started, and its QoS class.
#[test]
fn the_status_carries_the_pods_addresses_start_time_and_qos_class() {
    use tandem_kubelet::status::{pod_status, Clock};
    let t0 = Instant::now();
    let plan = pod(Always, 30, &["A"]);
    let obs = observe(&plan, &[("A", St::Running)], t0);
    let clock = Clock {
        origin: t0,
        origin_wall_us: 1_700_000_000_000_000,
    };
    let facts = PodFacts {
        sandbox_ready: true,
        pod_ip: Some("10.88.0.7".into()),
        pod_ips: vec!["10.88.0.7".into(), "fd88::7".into()],
        host_ip: Some("192.0.2.10".into()),
        started_at: Some(t0),
        ..Default::default()
    };
    let status = pod_status(&plan, &obs, &facts, &clock);
    let ips = |v: Option<Vec<String>>| v.unwrap_or_default();
    assert_eq!(status.pod_ip.as_deref(), Some("10.88.0.7"));
    assert_eq!(
        ips(status
            .pod_ips
            .map(|v| v.into_iter().map(|p| p.ip).collect())),
        ["10.88.0.7", "fd88::7"]
    );
    assert_eq!(status.host_ip.as_deref(), Some("192.0.2.10"));
    assert_eq!(
        ips(status
            .host_ips
            .map(|v| v.into_iter().map(|p| p.ip).collect())),
        ["192.0.2.10"]
    );
    assert_eq!(status.start_time, Some(clock.time(t0)));
    assert_eq!(status.qos_class.as_deref(), Some("BestEffort"));
}

// ---- Readiness gates (§5.2, T229) ------------------------------------------------------------------

#[test]
fn readiness_gates_hold_ready_false_until_their_conditions_are_true() {
    use k8s_openapi::api::core::v1::PodCondition;
    use tandem_kubelet::status::{pod_status, Clock};
    let t0 = Instant::now();
    let mut plan = pod(Always, 30, &["A"]);
    plan.readiness_gates = vec!["g1".into(), "g2".into()];
    let obs = observe(&plan, &[("A", St::Running)], t0);
    let clock = Clock {
        origin: t0,
        origin_wall_us: 0,
    };
    let ready = |external: &[(&str, &str)]| {
        let facts = PodFacts {
            sandbox_ready: true,
            external_conditions: external
                .iter()
                .map(|(t, s)| PodCondition {
                    type_: t.to_string(),
                    status: s.to_string(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        };
        let status = pod_status(&plan, &obs, &facts, &clock);
        let conds = status.conditions.unwrap_or_default();
        let get = |kind: &str| {
            conds
                .iter()
                .find(|c| c.type_ == kind)
                .map(|c| (c.status.clone(), c.reason.clone(), c.message.clone()))
                .expect("condition")
        };
        assert_eq!(get("ContainersReady").0, "True");
        get("Ready")
    };
    assert_eq!(
        ready(&[]),
        (
            "False".into(),
            Some("ReadinessGatesNotReady".into()),
            Some("corresponding condition of pod readiness gate \"g1\" does not exist., corresponding condition of pod readiness gate \"g2\" does not exist.".into())
        )
    );
    assert_eq!(
        ready(&[("g1", "True"), ("g2", "False")]),
        (
            "False".into(),
            Some("ReadinessGatesNotReady".into()),
            Some("the status of pod readiness gate \"g2\" is not \"True\", but False".into())
        )
    );
    assert_eq!(ready(&[("g1", "True"), ("g2", "True")]).0, "True");
    assert_eq!(ready(&[("g1", "False"), ("g2", "True")]).0, "False");
}

// ---- KEP-5532 RestartAllContainers (§2.7, U-P11) ---------------------------------------------------

/// Gives a container the rule {RestartAllContainers, exitCodes In [42]} (and its own Never,
/// which the API server requires with rules, unless it is a sidecar).
fn restart_all_on_42(plan: &mut PodPlan, name: &str) {
    let c = plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
        .find(|c| c.name == name)
        .expect("container in plan");
    if c.role != ContainerRole::Sidecar {
        c.restart_policy = Some(Never);
    }
    c.restart_rules = vec![RestartRule {
        operator: ExitCodeOperator::In,
        values: vec![42],
        action: RestartAction::RestartAllContainers,
    }];
}

#[test]
fn u_p11_phase_with_restart_all_containers() {
    use PodPhase::{Pending, Running as RUNNING};
    use St::*;
    let t0 = Instant::now();
    // (spec, trigger, states, phase while the containers stop, phase once they are removed)
    type Row = (
        &'static [&'static str],
        &'static str,
        &'static [(&'static str, St)],
        PodPhase,
        PodPhase,
    );
    let rows: &[Row] = &[
        (
            &["A", "B"],
            "A",
            &[("A", Exited(42)), ("B", Running)],
            RUNNING,
            RUNNING,
        ),
        (&["A"], "A", &[("A", Exited(42))], RUNNING, RUNNING),
        (
            &["init:X", "A"],
            "X",
            &[("X", Exited(42))],
            Pending,
            Pending,
        ),
        (
            &["sidecar:X", "A"],
            "X",
            &[("X", Exited(42))],
            Pending,
            Pending,
        ),
        (
            &["sidecar:X", "init:Y", "A"],
            "X",
            &[("X", Exited(42)), ("Y", Running)],
            Pending,
            Pending,
        ),
        (
            &["init:I", "sidecar:X", "A"],
            "A",
            &[("I", Exited(0)), ("X", Running), ("A", Exited(42))],
            RUNNING,
            Pending,
        ),
    ];
    for (spec, trigger, states, during, after) in rows {
        let mut plan = pod(Never, 30, spec);
        restart_all_on_42(&mut plan, trigger);
        let mut obs = observe(&plan, states, t0);
        assert_eq!(
            phase(&plan, &obs, &PodFacts::default()),
            *during,
            "{spec:?} {states:?}"
        );
        for c in plan.all_containers() {
            let r = obs.get_mut(&c.name);
            if r.is_running() {
                r.state = RunState::Exited(Exit::from_code(143, Some(15), false, Some(t0), t0));
            }
        }
        obs.all_containers_removed(&plan, t0);
        assert_eq!(
            phase(&plan, &obs, &PodFacts::default()),
            *after,
            "after the removal: {spec:?} {states:?}"
        );
    }
}

#[test]
fn restart_all_containers_kills_everything_then_removes_it_then_reruns_init() {
    use St::*;
    let t0 = Instant::now();
    let mut plan = pod(Never, 30, &["init:I", "sidecar:X", "A", "B"]);
    restart_all_on_42(&mut plan, "A");
    let states = [
        ("I", Exited(0)),
        ("X", Running),
        ("A", Exited(42)),
        ("B", Running),
    ];
    let mut obs = observe(&plan, &states, t0);
    // Every running container is killed at once, with no grace period; nothing starts.
    let d = decide(&plan, &obs, t0);
    assert_eq!(d.kills(), ["X", "B"]);
    assert!(d.starts().is_empty());
    assert!(!d.kills_pod());
    for a in &d.actions {
        if let Action::Kill { reason, grace, .. } = a {
            assert_eq!(*reason, KillReason::RestartAllContainers);
            assert_eq!(*grace, Duration::ZERO);
        }
    }
    // Once nothing runs, every container is removed.
    for c in ["X", "B"] {
        obs.get_mut(c).state =
            RunState::Exited(Exit::from_code(143, Some(15), false, Some(t0), t0));
    }
    let d = decide(&plan, &obs, t0);
    assert_eq!(d.actions, [Action::RemoveAllContainers]);
    // Then the pod starts again from its first init container, restart counts kept.
    obs.all_containers_removed(&plan, t0);
    for c in ["I", "X", "A", "B"] {
        let r = obs.get(c);
        assert_eq!(r.state, RunState::NotCreated, "{c}");
        assert_eq!(r.restart_count(), 0, "{c}");
        assert_eq!(
            r.last_exit
                .as_ref()
                .map(|e| (e.exit_code, e.reason.as_str())),
            Some((137, "RestartingAllContainers")),
            "{c}"
        );
    }
    assert_eq!(decide(&plan, &obs, t0).starts(), ["I"]);
    // A container that never ran has nothing to remove.
    let mut plan = pod(Never, 30, &["init:I", "A"]);
    restart_all_on_42(&mut plan, "I");
    let mut obs = observe(&plan, &[("I", Exited(42))], t0);
    obs.all_containers_removed(&plan, t0);
    assert!(obs.get("A").last_exit.is_none());
    assert!(obs.get("I").last_exit.is_some());
}

#[test]
fn the_first_matching_rule_decides_between_restart_and_restart_all() {
    use tandem_kubelet::rules::{container_should_restart, restarts_all_containers};
    let mut plan = pod(Never, 30, &["A"]);
    let c = &mut plan.containers[0];
    c.restart_policy = Some(Never);
    c.restart_rules = vec![
        RestartRule {
            operator: ExitCodeOperator::In,
            values: vec![42],
            action: RestartAction::Restart,
        },
        RestartRule {
            operator: ExitCodeOperator::NotIn,
            values: vec![0],
            action: RestartAction::RestartAllContainers,
        },
    ];
    let c = &plan.containers[0];
    assert!(!restarts_all_containers(c, 42), "Restart matched first");
    assert!(restarts_all_containers(c, 3));
    assert!(!restarts_all_containers(c, 0));
    for code in [42, 3] {
        assert!(container_should_restart(&plan, c, code), "{code}");
    }
    assert!(!container_should_restart(&plan, c, 0));
}
