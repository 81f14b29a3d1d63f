//! Conformance scenarios of docs/kubelet-rules.md §7 on real containers (tier T2), run as root
//! against the built `tandem` binary with the marker-log harness of §7.0: every container (and
//! every hook and probe) runs a small `sh` script that appends `<uptime> <name>
//! Starting|Started|Exiting` lines to a file shared through a hostPath volume at /persistent
//! (a hostPath rather than an emptyDir so the log survives the pod's deletion). The assertions
//! StartsBefore, ExitsBefore and RunTogether read the merged log.
//!
//! Each test skips, printing why, when not run as root or when busybox-static is missing. Tests
//! share one `--root` per test process (the image is built once) and use unique pod names, so
//! they can run in parallel. Timings are short: sub-second sleeps, grace periods of 2–3 s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

const IMAGE: &str = "localhost/tandem-busybox:1.35";

fn exe() -> &'static str {
    env!("CARGO_BIN_EXE_tandem")
}

const ROOT_PREFIX: &str = "tandem-conformance-";

/// Removes the stores of test processes that are gone.
fn sweep_stale_roots() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(ROOT_PREFIX))
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// The shared root with the busybox image, or why the tests cannot run here. Each test process
/// keeps its own for its life (helper threads of a test use it too); stores of processes that
/// are gone are swept by the next test to start, so runs do not pile them up in /tmp.
fn root() -> Result<&'static Path, &'static str> {
    static ROOT: OnceLock<Result<PathBuf, &'static str>> = OnceLock::new();
    ROOT.get_or_init(|| {
        if !nix::unistd::geteuid().is_root() {
            return Err("not running as root");
        }
        if !Path::new("/bin/busybox").exists() {
            return Err("/bin/busybox is missing (apt-get install busybox-static)");
        }
        sweep_stale_roots();
        let dir = std::env::temp_dir().join(format!("{ROOT_PREFIX}{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let script =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tools/build-busybox-image.sh");
        let ok = Command::new("bash")
            .arg(script)
            .arg(exe())
            .arg("--root")
            .arg(&dir)
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if ok {
            Ok(dir)
        } else {
            Err("cannot build the busybox image")
        }
    })
    .as_deref()
    .map_err(|e| *e)
}

macro_rules! need_root {
    () => {
        match root() {
            Ok(r) => r,
            Err(why) => {
                tandem_testkit::skip(why);
                return;
            }
        }
    };
}

fn tandem(root: &Path, args: &[&str]) -> (bool, String) {
    let out = Command::new(exe())
        .arg("--root")
        .arg(root)
        .args(args)
        .output()
        .expect("run tandem");
    let mut text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// A container of the marker harness (ExecCommand of §7.0).
#[derive(Clone)]
struct C {
    name: &'static str,
    /// `init`, `sidecar` or `main`.
    kind: &'static str,
    start_delay: f32,
    /// Seconds before it exits by itself; `None` runs until stopped.
    delay: Option<f32>,
    exit: i32,
    /// Seconds it takes after SIGTERM (then it exits with `exit`); `None` ignores SIGTERM.
    term: Option<f32>,
    extra: Value,
}

fn c(kind: &'static str, name: &'static str) -> C {
    C {
        name,
        kind,
        start_delay: 0.0,
        delay: None,
        exit: 0,
        term: Some(0.0),
        extra: json!({}),
    }
}

impl C {
    fn runs(mut self, secs: f32, exit: i32) -> Self {
        self.delay = Some(secs);
        self.exit = exit;
        self
    }
    fn term(mut self, secs: Option<f32>) -> Self {
        self.term = secs;
        self
    }
    fn start_delay(mut self, secs: f32) -> Self {
        self.start_delay = secs;
        self
    }
    /// Adds fields to the container (probes, lifecycle).
    fn with(mut self, v: Value) -> Self {
        if let (Some(a), Some(b)) = (self.extra.as_object_mut(), v.as_object()) {
            for (k, v) in b {
                a.insert(k.clone(), v.clone());
            }
        }
        self
    }
}

const MARK: &str = "m(){ read u _ < /proc/uptime; echo \"$u $N $1\" >> /persistent/markers.log; }";

fn script(c: &C) -> String {
    let trap = match c.term {
        Some(t) => format!("trap 'sleep {t}; m Exiting; exit {}' TERM", c.exit),
        None => "trap '' TERM".to_string(),
    };
    let delay = c.delay.map_or("100000".to_string(), |d| d.to_string());
    format!(
        "N={}; {MARK}; {trap}; m Starting; sleep {}; touch /tmp/started; m Started; sleep {delay} & wait $!; m Exiting; exit {}",
        c.name, c.start_delay, c.exit
    )
}

/// An exec handler that logs as `name` (e.g. `PreStop-c1`), sleeps `secs` and exits `code`.
fn hook(name: &str, secs: f32, code: i32) -> Value {
    let line =
        format!("N={name}; {MARK}; m Starting; m Started; sleep {secs}; m Exiting; exit {code}");
    json!({"exec": {"command": ["sh", "-c", line]}})
}

/// An exec probe running `cmd` (logged as `name`).
fn exec_probe(name: &str, cmd: &str, extra: Value) -> Value {
    let line = format!("N={name}; {MARK}; m Starting; m Started; {cmd}; r=$?; m Exiting; exit $r");
    let mut p = json!({"exec": {"command": ["sh", "-c", line]}, "periodSeconds": 1});
    if let (Some(a), Some(b)) = (p.as_object_mut(), extra.as_object()) {
        for (k, v) in b {
            a.insert(k.clone(), v.clone());
        }
    }
    p
}

struct Pod {
    root: &'static Path,
    name: String,
    log_dir: PathBuf,
}

fn start(root: &'static Path, name: &str, policy: &str, grace: i64, cs: &[C]) -> Pod {
    let log_dir = root.join("markers").join(name);
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let container = |c: &C| {
        let mut v = json!({
            "name": c.name, "image": IMAGE,
            "command": ["sh", "-c", script(c)],
            "volumeMounts": [{"name": "persistent", "mountPath": "/persistent"}],
        });
        if c.kind == "sidecar" {
            v["restartPolicy"] = json!("Always");
        }
        if let (Some(a), Some(b)) = (v.as_object_mut(), c.extra.as_object()) {
            for (k, val) in b {
                a.insert(k.clone(), val.clone());
            }
        }
        v
    };
    let init: Vec<Value> = cs
        .iter()
        .filter(|c| c.kind != "main")
        .map(container)
        .collect();
    let main: Vec<Value> = cs
        .iter()
        .filter(|c| c.kind == "main")
        .map(container)
        .collect();
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "restartPolicy": policy,
            "terminationGracePeriodSeconds": grace,
            "initContainers": init,
            "containers": main,
            "volumes": [{"name": "persistent", "hostPath": {"path": log_dir, "type": "Directory"}}],
        }
    });
    let file = log_dir.with_extension("json");
    std::fs::write(&file, serde_json::to_vec(&pod).expect("json")).expect("write pod");
    let (ok, out) = tandem(root, &["run", "-d", &file.display().to_string()]);
    assert!(ok, "tandem run: {out}");
    Pod {
        root,
        name: name.to_string(),
        log_dir,
    }
}

impl Pod {
    fn wait(&self, cond: &str, secs: u64) -> bool {
        tandem(
            self.root,
            &[
                "wait",
                &format!("pod/{}", self.name),
                &format!("--for={cond}"),
                &format!("--timeout={secs}s"),
            ],
        )
        .0
    }
    fn wait_phase(&self, phase: &str, secs: u64) {
        assert!(
            self.wait(&format!("jsonpath={{.status.phase}}={phase}"), secs),
            "pod {} never {phase}: {}",
            self.name,
            self.get()
        );
    }
    fn get(&self) -> Value {
        let (_, out) = tandem(self.root, &["get", "pod", &self.name, "-o", "json"]);
        serde_json::from_str(&out).unwrap_or(Value::Null)
    }
    fn status_of(&self, c: &str) -> Value {
        let p = self.get();
        p["status"]["initContainerStatuses"]
            .as_array()
            .into_iter()
            .flatten()
            .chain(
                p["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten(),
            )
            .find(|s| s["name"] == c)
            .cloned()
            .unwrap_or(Value::Null)
    }
    fn restarts(&self, c: &str) -> i64 {
        self.status_of(c)["restartCount"].as_i64().unwrap_or(-1)
    }
    fn events(&self) -> String {
        tandem(
            self.root,
            &["get", "events", "--for", &format!("pod/{}", self.name)],
        )
        .1
    }
    /// Deletes the pod and returns how long that took.
    fn delete(&self, grace: Option<u32>) -> Duration {
        let t = Instant::now();
        let g = grace.map(|g| g.to_string());
        let mut args = vec!["delete", "pod", &self.name];
        if let Some(g) = &g {
            args.push("--grace-period");
            args.push(g);
        }
        let (ok, out) = tandem(self.root, &args);
        assert!(ok, "delete: {out}");
        assert!(self.wait("delete", 60), "pod {} not gone", self.name);
        t.elapsed()
    }
    fn log(&self) -> Log {
        let text = std::fs::read_to_string(self.log_dir.join("markers.log")).unwrap_or_default();
        let mut lines: Vec<(f64, String, String)> = text
            .lines()
            .filter_map(|l| {
                let mut it = l.split_whitespace();
                Some((
                    it.next()?.parse().ok()?,
                    it.next()?.to_string(),
                    it.next()?.to_string(),
                ))
            })
            .collect();
        lines.sort_by(|a, b| a.0.total_cmp(&b.0));
        Log(lines)
    }
}

impl Drop for Pod {
    fn drop(&mut self) {
        let _ = tandem(
            self.root,
            &["delete", "pod", &self.name, "--grace-period", "0"],
        );
    }
}

/// The merged marker log: (uptime seconds, who, what).
struct Log(Vec<(f64, String, String)>);

impl Log {
    fn at(&self, who: &str, what: &str) -> Vec<f64> {
        self.0
            .iter()
            .filter(|(_, w, x)| w == who && x == what)
            .map(|(t, _, _)| *t)
            .collect()
    }
    fn first(&self, who: &str, what: &str) -> f64 {
        *self
            .at(who, what)
            .first()
            .unwrap_or_else(|| panic!("{who} never {what}: {:?}", self.0))
    }
    fn starts_before(&self, a: &str, b: &str) -> bool {
        self.first(a, "Started") <= self.first(b, "Starting")
    }
    /// ExitsBefore: a's first exit precedes b's last. Both must have exited: a b that never
    /// exits proves nothing about the order.
    fn exits_before(&self, a: &str, b: &str) -> bool {
        let last_b = *self
            .at(b, "Exiting")
            .last()
            .unwrap_or_else(|| panic!("{b} never Exiting: {:?}", self.0));
        self.first(a, "Exiting") <= last_b
    }
    fn run_together(&self, a: &str, b: &str) -> bool {
        let exits = self.at(a, "Exiting");
        let bs = self.at(b, "Started");
        self.at(a, "Started").iter().any(|s| {
            let end = exits.iter().find(|e| *e >= s).copied().unwrap_or(f64::MAX);
            bs.iter().any(|t| t >= s && *t <= end)
        })
    }
    fn starts(&self, who: &str) -> usize {
        self.at(who, "Starting").len()
    }
    fn doesnt_start(&self, who: &str) -> bool {
        self.at(who, "Started").is_empty()
    }
}

fn unique(base: &str) -> String {
    format!("{base}-{}", std::process::id() % 100_000)
}

// ---- ordering and restarts ------------------------------------------------------------------------

#[test]
fn t014_init_containers_run_serially_before_the_regular_container() {
    let root = need_root!();
    let p = start(root, &unique("t014"), "Never", 2, &[
        c("init", "init1").runs(0.3, 0),
        c("init", "init2").runs(0.3, 0),
        c("init", "init3").runs(0.3, 0),
        c("main", "regular1").runs(0.3, 0).start_delay(0.5).with(json!({"startupProbe": {"exec": {"command": ["test", "-f", "/tmp/started"]}, "periodSeconds": 1, "failureThreshold": 5}})),
    ]);
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    for (a, b) in [
        ("init1", "init2"),
        ("init2", "init3"),
        ("init3", "regular1"),
    ] {
        assert!(
            l.starts_before(a, b) && l.exits_before(a, b),
            "{a} before {b}"
        );
    }
}

#[test]
fn t015_a_failed_init_container_keeps_regular_containers_from_starting() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t015"),
        "Never",
        2,
        &[
            c("init", "init1").runs(0.2, 1),
            c("main", "regular1").runs(0.2, 0),
        ],
    );
    p.wait_phase("Failed", 30);
    let l = p.log();
    assert!(!l.at("init1", "Exiting").is_empty());
    assert!(l.doesnt_start("regular1"));
}

#[test]
fn t016_init_completes_before_the_regular_containers_poststart() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t016"),
        "Never",
        2,
        &[
            c("init", "init1").runs(0.3, 0),
            c("main", "regular1")
                .runs(2.0, 0)
                .with(json!({"lifecycle": {"postStart": hook("PostStart-regular1", 0.5, 0)}})),
        ],
    );
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    assert!(l.starts_before("init1", "PostStart-regular1"));
    assert!(l.exits_before("init1", "PostStart-regular1"));
    assert!(l.run_together("regular1", "PostStart-regular1"));
}

#[test]
fn t017_t022_a_failing_container_restarts_and_init_containers_do_not() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t017"),
        "Always",
        2,
        &[
            c("init", "init1").runs(0.1, 0),
            c("main", "regular1").runs(0.3, 1),
        ],
    );
    assert!(p.wait("jsonpath={.status.containerStatuses[0].restartCount}=1", 30));
    std::thread::sleep(Duration::from_millis(800));
    let l = p.log();
    assert!(l.starts("regular1") >= 2);
    assert_eq!(l.starts("init1"), 1);
    assert_eq!(p.restarts("init1"), 0);
}

#[test]
fn t018_poststart_blocks_the_next_regular_container() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t018"),
        "Always",
        2,
        &[
            c("main", "r1").with(json!({"lifecycle": {"postStart": hook("PostStart-r1", 1.0, 0)}})),
            c("main", "r2"),
        ],
    );
    assert!(p.wait("condition=Ready", 30));
    let l = p.log();
    assert!(l.starts_before("PostStart-r1", "r2"));
    assert!(l.first("PostStart-r1", "Exiting") <= l.first("r2", "Starting"));
}

#[test]
fn t023_termination_grace_period_is_respected() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t023"),
        "Always",
        2,
        &[c("main", "regular1").term(None)],
    );
    assert!(p.wait("condition=Ready", 30));
    let took = p.delete(None);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn t024_grace_period_bounds_a_long_running_prestop_hook() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t024"),
        "Always",
        2,
        &[c("main", "regular1")
            .term(None)
            .with(json!({"lifecycle": {"preStop": hook("PreStop-regular1", 1000.0, 0)}}))],
    );
    assert!(p.wait("condition=Ready", 30));
    let took = p.delete(None);
    // preStop is charged to the 2 s grace period, then the 2 s minimum before SIGKILL.
    assert!(
        took >= Duration::from_millis(3800) && took < Duration::from_secs(8),
        "{took:?}"
    );
    assert!(!p.log().at("PreStop-regular1", "Started").is_empty());
}

fn probe_kill(name: &str, probe: &str) -> Pod {
    let root = root().expect("root");
    let p = start(root, name, "Never", 3, &[
        c("main", "regular1").term(Some(0.5)).with(json!({
            probe: exec_probe("Probe-regular1", "exit 1", json!({"initialDelaySeconds": 1, "failureThreshold": 1})),
            "lifecycle": {"preStop": hook("PreStop-regular1", 0.5, 0)},
        })),
    ]);
    p.wait_phase("Succeeded", 30);
    p
}

#[test]
fn t025_a_failed_startup_probe_calls_prestop_and_stops_the_container() {
    let _ = need_root!();
    let p = probe_kill(&unique("t025"), "startupProbe");
    let l = p.log();
    assert!(l.run_together("regular1", "PreStop-regular1"));
    assert!(!l.at("regular1", "Exiting").is_empty());
    assert_eq!(l.starts("regular1"), 1);
    assert!(p.events().contains("failed startup probe"));
}

#[test]
fn t026_a_failed_liveness_probe_calls_prestop_and_stops_the_container() {
    let _ = need_root!();
    let p = probe_kill(&unique("t026"), "livenessProbe");
    let l = p.log();
    assert!(l.run_together("regular1", "PreStop-regular1"));
    assert!(p
        .events()
        .contains("Container regular1 failed liveness probe"));
}

// ---- sidecars ---------------------------------------------------------------------------------------

#[test]
fn t037_t044_three_init_containers_and_two_sidecars_under_never() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t037"),
        "Never",
        2,
        &[
            c("init", "init1").runs(0.2, 0),
            c("sidecar", "ri1"),
            c("init", "init2").runs(0.2, 0),
            c("sidecar", "ri2"),
            c("init", "init3").runs(0.2, 0),
            c("main", "regular1").runs(0.5, 0),
        ],
    );
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    let order = ["init1", "ri1", "init2", "ri2", "init3", "regular1"];
    for w in order.windows(2) {
        assert!(l.starts_before(w[0], w[1]), "{} before {}", w[0], w[1]);
    }
    assert!(l.run_together("ri1", "init2"));
    assert!(l.exits_before("regular1", "ri2") && l.exits_before("ri2", "ri1"));
    assert_eq!((l.starts("ri1"), l.starts("ri2")), (1, 1));
}

#[test]
fn t047_a_failed_init_after_a_sidecar_terminates_the_pod_in_reverse_order() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t047"),
        "Never",
        2,
        &[
            c("init", "init1").runs(0.2, 0),
            c("sidecar", "ri1").term(Some(0.3)),
            c("init", "init2").runs(0.5, 1),
            c("sidecar", "ri2"),
            c("main", "regular1"),
        ],
    );
    p.wait_phase("Failed", 30);
    std::thread::sleep(Duration::from_millis(500));
    let l = p.log();
    assert!(l.doesnt_start("ri2") && l.doesnt_start("regular1"));
    assert!(l.exits_before("init2", "ri1"));
}

#[test]
fn t048_t050_a_sidecar_runs_continuously_under_never() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t048"),
        "Never",
        2,
        &[c("sidecar", "ri1"), c("main", "regular1").runs(0.5, 0)],
    );
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    assert_eq!(l.starts("ri1"), 1);
    assert!(l.starts_before("ri1", "regular1") && l.exits_before("regular1", "ri1"));
}

#[test]
fn t069_t071_a_sidecar_runs_continuously_under_onfailure() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t069"),
        "OnFailure",
        2,
        &[c("sidecar", "ri1"), c("main", "regular1").runs(0.5, 0)],
    );
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    assert_eq!(l.starts("ri1"), 1);
    assert!(l.exits_before("regular1", "ri1"));
}

fn sidecar_exits_continuously(name: &str, code: i32) {
    let root = root().expect("root");
    let p = start(
        root,
        name,
        "Never",
        2,
        &[
            c("sidecar", "ri1").runs(0.5, code),
            c("init", "init1").runs(1.0, 0),
            c("main", "regular1").runs(2.0, 0),
        ],
    );
    p.wait_phase("Succeeded", 60);
    let l = p.log();
    assert!(l.starts_before("ri1", "regular1"));
    assert!(l.starts("ri1") >= 2, "ri1 restarted");
    assert_eq!(l.starts("regular1"), 1);
}

#[test]
fn t055_t058_a_sidecar_exiting_0_continuously_under_never() {
    let _ = need_root!();
    sidecar_exits_continuously(&unique("t055"), 0);
}

#[test]
fn t059_t062_a_sidecar_exiting_1_continuously_under_never() {
    let _ = need_root!();
    sidecar_exits_continuously(&unique("t059"), 1);
}

#[test]
fn t063_t065_an_init_container_before_a_sidecar_fails_under_never() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t063"),
        "Never",
        2,
        &[
            c("init", "init1").runs(0.2, 1),
            c("sidecar", "ri1"),
            c("main", "regular1"),
        ],
    );
    p.wait_phase("Failed", 30);
    let l = p.log();
    assert!(l.doesnt_start("ri1") && l.doesnt_start("regular1"));
    assert_eq!(p.status_of("init1")["state"]["terminated"]["exitCode"], 1);
}

#[test]
fn t066_t068_an_init_container_after_a_sidecar_fails_under_never() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t066"),
        "Never",
        2,
        &[
            c("sidecar", "ri1").runs(3.0, 1),
            c("init", "init1").runs(0.3, 1),
            c("main", "regular1"),
        ],
    );
    p.wait_phase("Failed", 30);
    let l = p.log();
    assert!(l.run_together("ri1", "init1"));
    assert!(l.doesnt_start("regular1"));
}

#[test]
fn t084_t086_an_init_container_keeps_failing_under_onfailure() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t084"),
        "OnFailure",
        2,
        &[
            c("init", "init1").runs(0.1, 1),
            c("sidecar", "ri1"),
            c("main", "regular1"),
        ],
    );
    assert!(p.wait(
        "jsonpath={.status.initContainerStatuses[0].restartCount}=1",
        30
    ));
    assert_eq!(p.get()["status"]["phase"], "Pending");
    assert!(p.log().doesnt_start("ri1"));
    let (_, table) = tandem(root, &["get", "pods"]);
    assert!(table.contains("Init:"), "{table}");
}

#[test]
fn t090_t092_a_sidecar_runs_continuously_under_always() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t090"),
        "Always",
        2,
        &[c("sidecar", "ri1"), c("main", "regular1").runs(0.3, 0)],
    );
    assert!(p.wait("jsonpath={.status.containerStatuses[0].restartCount}=1", 30));
    assert_eq!(p.log().starts("ri1"), 1);
    assert_eq!(p.restarts("ri1"), 0);
}

#[test]
fn t111_a_sidecar_startup_probe_holds_back_the_next_container() {
    let root = need_root!();
    let p = start(root, &unique("t111"), "Never", 2, &[
        c("sidecar", "ri1").start_delay(1.5).with(json!({"startupProbe": exec_probe("Startup-ri1", "test -f /tmp/started", json!({"failureThreshold": 10}))})),
        c("main", "regular1").runs(0.3, 0),
    ]);
    p.wait_phase("Succeeded", 30);
    let l = p.log();
    assert!(l.first("ri1", "Started") <= l.first("regular1", "Starting"));
    assert!(l.at("Startup-ri1", "Exiting").len() >= 2);
}

#[test]
fn t112_a_sidecar_failing_its_startup_probe_restarts_under_never() {
    let root = need_root!();
    let p = start(root, &unique("t112"), "Never", 2, &[
        c("sidecar", "ri1").with(json!({"startupProbe": exec_probe("Startup-ri1", "exit 1", json!({"failureThreshold": 1}))})),
        c("main", "regular1"),
    ]);
    assert!(p.wait(
        "jsonpath={.status.initContainerStatuses[0].restartCount}=1",
        30
    ));
    assert!(p.log().doesnt_start("regular1"));
    assert_eq!(p.get()["status"]["phase"], "Pending");
    assert!(p
        .events()
        .contains("Init container ri1 failed startup probe, will be restarted"));
}

#[test]
fn t116_a_sidecar_liveness_failure_calls_prestop_and_the_next_container_starts() {
    let root = need_root!();
    let p = start(root, &unique("t116"), "Always", 2, &[
        c("sidecar", "ri1").with(json!({
            "livenessProbe": exec_probe("Liveness-ri1", "exit 1", json!({"initialDelaySeconds": 1, "failureThreshold": 1})),
            "lifecycle": {"preStop": hook("PreStop-ri1", 0.2, 0)},
        })),
        c("main", "regular1"),
    ]);
    assert!(p.wait(
        "jsonpath={.status.initContainerStatuses[0].restartCount}=1",
        30
    ));
    let l = p.log();
    assert!(l.run_together("ri1", "PreStop-ri1"));
    assert!(!l.doesnt_start("regular1"));
}

// ---- termination ------------------------------------------------------------------------------------

#[test]
fn t120_sidecars_terminate_in_reverse_order() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t120"),
        "Always",
        5,
        &[
            c("sidecar", "ri1").term(Some(0.3)),
            c("sidecar", "ri2").term(Some(0.3)),
            c("sidecar", "ri3").term(Some(0.3)),
            c("main", "regular1").term(Some(0.3)),
        ],
    );
    assert!(p.wait("condition=Ready", 30));
    p.delete(None);
    let l = p.log();
    assert!(l.starts_before("ri1", "ri2") && l.starts_before("ri3", "regular1"));
    assert!(
        l.exits_before("regular1", "ri3")
            && l.exits_before("ri3", "ri2")
            && l.exits_before("ri2", "ri1")
    );
}

#[test]
fn t124_t125_prestop_hooks_start_together_and_use_the_grace_period_plus_two_seconds() {
    let root = need_root!();
    let pre = |n: &str| json!({"lifecycle": {"preStop": hook(n, 1000.0, 0)}});
    // Each takes 5 s after SIGTERM, so all are SIGKILLed 2 s after the 2 s grace.
    let slow = Some(5.0);
    let p = start(
        root,
        &unique("t124"),
        "Always",
        2,
        &[
            c("sidecar", "ri1").term(slow).with(pre("PreStop-ri1")),
            c("sidecar", "ri2").term(slow).with(pre("PreStop-ri2")),
            c("main", "regular1")
                .term(slow)
                .with(pre("PreStop-regular1")),
        ],
    );
    assert!(p.wait("condition=Ready", 30));
    let took = p.delete(None);
    let l = p.log();
    let starts: Vec<f64> = ["PreStop-ri1", "PreStop-ri2", "PreStop-regular1"]
        .iter()
        .map(|h| l.first(h, "Started"))
        .collect();
    let spread = starts.iter().cloned().fold(f64::MIN, f64::max)
        - starts.iter().cloned().fold(f64::MAX, f64::min);
    assert!(spread < 1.0, "preStop start spread {spread}");
    assert!(
        took >= Duration::from_millis(3800) && took < Duration::from_secs(9),
        "{took:?}"
    );
}

#[test]
fn t128_a_sidecar_exiting_1_on_sigterm_leaves_the_pod_succeeded() {
    let root = need_root!();
    let mut ri2 = c("sidecar", "ri2");
    ri2.exit = 1;
    let p = start(
        root,
        &unique("t128"),
        "Never",
        2,
        &[c("sidecar", "ri1"), ri2, c("main", "regular1").runs(0.5, 0)],
    );
    p.wait_phase("Succeeded", 30);
    assert_eq!(p.status_of("ri2")["state"]["terminated"]["exitCode"], 1);
    assert_eq!(p.status_of("ri2")["state"]["terminated"]["reason"], "Error");
}

#[test]
fn t129_a_failing_prestop_hook_does_not_change_exit_codes() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t129"),
        "Never",
        2,
        &[
            c("sidecar", "ri1")
                .with(json!({"lifecycle": {"preStop": hook("PreStop-ri1", 0.2, 1)}})),
            c("main", "regular1").runs(0.5, 0),
        ],
    );
    p.wait_phase("Succeeded", 30);
    assert_eq!(p.status_of("ri1")["state"]["terminated"]["exitCode"], 0);
    assert!(p.events().contains("FailedPreStopHook"));
}

// ---- hooks ------------------------------------------------------------------------------------------

#[test]
fn t160_t161_exec_hooks_run_on_a_main_container() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t160"),
        "Always",
        3,
        &[c("main", "app").with(json!({"lifecycle": {
            "postStart": hook("PostStart-app", 0.1, 0),
            "preStop": hook("PreStop-app", 0.1, 0)}}))],
    );
    assert!(p.wait("condition=Ready", 30));
    p.delete(None);
    let l = p.log();
    assert!(l.run_together("app", "PostStart-app"));
    assert!(l.first("PreStop-app", "Exiting") <= l.first("app", "Exiting"));
}

#[test]
fn t166_t167_exec_hooks_run_on_a_sidecar() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t166"),
        "Always",
        3,
        &[
            c("sidecar", "ri").with(json!({"lifecycle": {
            "postStart": hook("PostStart-ri", 0.5, 0),
            "preStop": hook("PreStop-ri", 0.1, 0)}})),
            c("main", "app"),
        ],
    );
    assert!(p.wait("condition=Ready", 30));
    p.delete(None);
    let l = p.log();
    assert!(l.first("PostStart-ri", "Exiting") <= l.first("app", "Starting"));
    assert!(l.first("PreStop-ri", "Started") <= l.first("ri", "Exiting"));
}

#[test]
fn t_hook_a_failed_poststart_kills_the_container() {
    let root = need_root!();
    let p = start(
        root,
        &unique("tps"),
        "Never",
        2,
        &[c("main", "app")
            .term(None)
            .with(json!({"lifecycle": {"postStart": hook("PostStart-app", 0.1, 1)}}))],
    );
    // Killed with SIGKILL after the 2 s grace: exit 137 fails the pod under Never.
    p.wait_phase("Failed", 30);
    assert!(p.events().contains("FailedPostStartHook"));
}

#[test]
fn t172_a_sleep_prestop_holds_the_container() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t172"),
        "Always",
        10,
        &[c("main", "app").with(json!({"lifecycle": {"preStop": {"sleep": {"seconds": 2}}}}))],
    );
    assert!(p.wait("condition=Ready", 30));
    let took = p.delete(None);
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(6),
        "{took:?}"
    );
}

#[test]
fn t174_prestop_is_not_called_when_the_container_exits_by_itself() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t174"),
        "Never",
        10,
        &[c("main", "app")
            .runs(0.5, 0)
            .with(json!({"lifecycle": {"preStop": hook("PreStop-app", 5.0, 0)}}))],
    );
    p.wait_phase("Succeeded", 30);
    assert!(p.log().doesnt_start("PreStop-app"));
}

// ---- init containers and probes ---------------------------------------------------------------------

#[test]
fn t179_failing_init_containers_keep_app_containers_waiting_under_always() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t179"),
        "Always",
        2,
        &[
            c("init", "init1").runs(0.1, 1),
            c("init", "init2").runs(0.1, 0),
            c("main", "run1"),
        ],
    );
    assert!(p.wait(
        "jsonpath={.status.initContainerStatuses[0].restartCount}=1",
        30
    ));
    let s = p.get();
    assert_eq!(s["status"]["phase"], "Pending");
    assert_eq!(
        s["status"]["containerStatuses"][0]["state"]["waiting"]["reason"],
        "PodInitializing"
    );
    let init = s["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "Initialized")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        init["message"],
        "containers with incomplete status: [init1 init2]"
    );
}

#[test]
fn t181_readiness_waits_for_the_initial_delay() {
    let root = need_root!();
    let p = start(root, &unique("t181"), "Always", 2, &[
        c("main", "app").with(json!({"readinessProbe": exec_probe("Readiness-app", "true", json!({"initialDelaySeconds": 2}))})),
    ]);
    let t = Instant::now();
    assert!(p.wait("condition=Ready", 30));
    assert!(
        t.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        t.elapsed()
    );
    assert_eq!(p.restarts("app"), 0);
}

#[test]
fn t182_failing_readiness_is_never_ready_and_never_restarts() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t182"),
        "Always",
        2,
        &[c("main", "app")
            .with(json!({"readinessProbe": exec_probe("Readiness-app", "exit 1", json!({}))}))],
    );
    assert!(!p.wait("condition=Ready", 4));
    assert_eq!(p.restarts("app"), 0);
    assert!(p.events().contains("Readiness probe failed"));
}

#[test]
fn t183_an_exec_liveness_failure_restarts_the_container() {
    let root = need_root!();
    let p = start(root, &unique("t183"), "Always", 2, &[
        c("main", "app").with(json!({"livenessProbe": exec_probe("Liveness-app", "exit 1", json!({"failureThreshold": 2}))})),
    ]);
    assert!(p.wait("jsonpath={.status.containerStatuses[0].restartCount}=1", 30));
    assert!(p
        .events()
        .contains("Container app failed liveness probe, will be restarted"));
}

#[test]
fn t185_t188_http_liveness_restarts_on_404_and_not_on_200() {
    let root = need_root!();
    let web = "mkdir -p /www; echo ok > /www/ok; httpd -p 8080 -h /www";
    let mk = |path: &str| {
        c("main", "web").with(json!({
            "command": ["sh", "-c", format!("{web}; sleep 100000")],
            "livenessProbe": {"httpGet": {"port": 8080, "path": path}, "periodSeconds": 1, "failureThreshold": 1, "initialDelaySeconds": 1},
        }))
    };
    let bad = start(root, &unique("t185"), "Always", 2, &[mk("/missing")]);
    let good = start(root, &unique("t188"), "Always", 2, &[mk("/ok")]);
    assert!(bad.wait("jsonpath={.status.containerStatuses[0].restartCount}=1", 30));
    assert!(bad
        .events()
        .contains("HTTP probe failed with statuscode: 404"));
    assert!(good.wait("condition=Ready", 30));
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(good.restarts("web"), 0);
}

#[test]
fn t186_tcp_liveness_passes_on_an_open_port() {
    let root = need_root!();
    let p = start(root, &unique("t186"), "Always", 2, &[
        c("main", "nc").with(json!({
            "command": ["sh", "-c", "mkdir -p /www; httpd -p 8080 -h /www; sleep 100000"],
            "livenessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1, "failureThreshold": 1, "initialDelaySeconds": 1},
            "readinessProbe": {"tcpSocket": {"port": 8081}, "periodSeconds": 1},
        })),
    ]);
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(p.restarts("nc"), 0);
    // Nothing listens on 8081: never ready.
    assert!(!p.wait("condition=Ready", 1));
    assert!(p.events().contains("connect"));
}

#[test]
fn t189_an_exec_liveness_timeout_restarts_the_container() {
    let root = need_root!();
    let p = start(root, &unique("t189"), "Always", 2, &[
        c("main", "app").with(json!({"livenessProbe": exec_probe("Liveness-app", "sleep 10", json!({"timeoutSeconds": 1, "failureThreshold": 1}))})),
    ]);
    assert!(p.wait("jsonpath={.status.containerStatuses[0].restartCount}=1", 30));
    assert!(p.events().contains("timed out"));
}

#[test]
fn t202_readiness_turns_false_while_terminating() {
    let root = need_root!();
    let p = start(root, &unique("t202"), "Always", 10, &[
        c("main", "app").term(Some(3.0)).with(json!({
            "command": ["sh", "-c", "touch /tmp/ready; trap 'rm /tmp/ready; sleep 3; exit 0' TERM; sleep 100000 & wait"],
            "readinessProbe": {"exec": {"command": ["test", "-f", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 1},
        })),
    ]);
    assert!(p.wait("condition=Ready", 30));
    // `tandem delete` returns once the pod is gone: watch from here meanwhile.
    let mut del = Command::new(exe())
        .arg("--root")
        .arg(root)
        .args(["delete", "pod", &p.name])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("delete");
    assert!(
        p.wait("condition=Ready=false", 5),
        "NotReady while terminating"
    );
    let _ = del.wait();
    assert!(p.wait("delete", 30));
}

#[test]
fn t245_a_finished_onfailure_pod_is_not_restarted() {
    let root = need_root!();
    let p = start(
        root,
        &unique("t245"),
        "OnFailure",
        2,
        &[
            c("init", "init1").runs(0.0, 0),
            c("main", "main").runs(0.0, 0),
        ],
    );
    p.wait_phase("Succeeded", 30);
    std::thread::sleep(Duration::from_millis(500));
    let l = p.log();
    assert_eq!((l.starts("init1"), l.starts("main")), (1, 1));
}

// ---- KEP-5307 per-container restart policy and rules (§2.7, T150–T154) --------------------------

/// A container command that exits `first` on its first run and `then` on every later one (the
/// marker file lives in the hostPath, so it survives restarts).
fn first_then(name: &str, first: i32, then: i32) -> Value {
    let line = format!(
        "N={name}; {MARK}; m Starting; m Started; if [ -e /persistent/{name}.ran ]; then m Exiting; exit {then}; fi; touch /persistent/{name}.ran; m Exiting; exit {first}"
    );
    json!({"command": ["sh", "-c", line]})
}

#[test]
fn t150_t151_a_restart_rule_restarts_on_42_and_not_on_1() {
    let root = need_root!();
    let p = start(root, &unique("t150"), "Never", 2, &[
        c("main", "c").with(first_then("c", 42, 1)).with(json!({
            "restartPolicy": "Never",
            "restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [42]}}],
        })),
    ]);
    p.wait_phase("Failed", 30);
    assert_eq!(p.restarts("c"), 1, "restarted after 42, not after 1");
    assert_eq!(p.log().starts("c"), 2);
    assert_eq!(p.status_of("c")["state"]["terminated"]["exitCode"], 1);
}

#[test]
fn kep5307_a_try_once_container_in_an_onfailure_pod() {
    let root = need_root!();
    let p = start(
        root,
        &unique("k5307once"),
        "OnFailure",
        2,
        &[
            c("main", "once")
                .runs(0.2, 1)
                .with(json!({"restartPolicy": "Never"})),
            c("main", "worker").with(first_then("worker", 1, 0)),
        ],
    );
    p.wait_phase("Failed", 30);
    assert_eq!(
        p.restarts("once"),
        0,
        "the try-once container is not retried"
    );
    assert_eq!(
        p.restarts("worker"),
        1,
        "the pod's OnFailure retries the other one"
    );
    let l = p.log();
    assert_eq!((l.starts("once"), l.starts("worker")), (1, 2));
}

#[test]
fn kep5307_a_never_init_container_fails_an_always_pod() {
    let root = need_root!();
    let p = start(
        root,
        &unique("k5307init"),
        "Always",
        2,
        &[
            c("init", "setup")
                .runs(0.2, 1)
                .with(json!({"restartPolicy": "Never"})),
            c("main", "app"),
        ],
    );
    p.wait_phase("Failed", 30);
    assert_eq!(p.restarts("setup"), 0);
    assert!(p.log().doesnt_start("app"));
}

// ---- $(VAR) in exec probe commands (§3.6) ----------------------------------------------------------

#[test]
fn exec_probe_commands_expand_the_containers_env() {
    let root = need_root!();
    let p = start(root, &unique("probevar"), "Always", 2, &[
        c("main", "app").with(json!({
            "env": [{"name": "READY_FILE", "value": "/tmp/started"}],
            // Without expansion this tests for a file literally named `$(READY_FILE)`.
            "readinessProbe": {"exec": {"command": ["test", "-e", "$(READY_FILE)"]}, "periodSeconds": 1},
        })),
    ]);
    assert!(p.wait("condition=Ready", 30), "{}", p.events());
}

// ---- lifecycle.stopSignal (KEP-4960) ---------------------------------------------------------------

#[test]
fn stop_signal_is_sent_instead_of_sigterm() {
    let root = need_root!();
    let name = unique("stopsig");
    let log_dir = root.join("markers").join(&name);
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let line = format!(
        "N=app; {MARK}; trap 'm GotUSR1; exit 0' USR1; trap 'm GotTERM; exit 0' TERM; m Starting; m Started; sleep 100000 & wait $!"
    );
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "os": {"name": "linux"},
            "terminationGracePeriodSeconds": 20,
            "containers": [{
                "name": "app", "image": IMAGE,
                "command": ["sh", "-c", line],
                "lifecycle": {"stopSignal": "SIGUSR1"},
                "volumeMounts": [{"name": "persistent", "mountPath": "/persistent"}],
            }],
            "volumes": [{"name": "persistent", "hostPath": {"path": log_dir, "type": "Directory"}}],
        }
    });
    let file = log_dir.with_extension("json");
    std::fs::write(&file, serde_json::to_vec(&pod).expect("json")).expect("write pod");
    let (ok, out) = tandem(root, &["run", "-d", &file.display().to_string()]);
    assert!(ok, "tandem run: {out}");
    let p = Pod {
        root,
        name,
        log_dir,
    };
    let t = Instant::now();
    while p.log().at("app", "Started").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(30), "app never started");
        std::thread::sleep(Duration::from_millis(100));
    }
    let took = p.delete(None);
    let l = p.log();
    assert_eq!(l.at("app", "GotUSR1").len(), 1, "{:?}", l.0);
    assert!(l.at("app", "GotTERM").is_empty(), "{:?}", l.0);
    assert!(
        took < Duration::from_secs(10),
        "stopped by the signal, not by SIGKILL: {took:?}"
    );
}

// ---- KEP-5532 RestartAllContainers (§2.7) and readiness gates (§5.2, T229) -------------------------

/// Runs a pod written in full (its containers log to /persistent as the harness's do).
fn start_pod(root: &'static Path, name: &str, spec: Value) -> Pod {
    let log_dir = root.join("markers").join(name);
    let _ = std::fs::remove_dir_all(&log_dir);
    std::fs::create_dir_all(&log_dir).expect("log dir");
    let mut spec = spec;
    let volumes = spec["volumes"].as_array().cloned().unwrap_or_default();
    let mut all =
        vec![json!({"name": "persistent", "hostPath": {"path": log_dir, "type": "Directory"}})];
    all.extend(volumes);
    spec["volumes"] = Value::Array(all);
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec});
    let file = log_dir.with_extension("json");
    std::fs::write(&file, serde_json::to_vec(&pod).expect("json")).expect("write pod");
    let (ok, out) = tandem(root, &["run", "-d", &file.display().to_string()]);
    assert!(ok, "tandem run: {out}");
    Pod {
        root,
        name: name.to_string(),
        log_dir,
    }
}

/// A container of `start_pod` running `body` after the marker function is defined.
fn sh(name: &str, body: &str, mounts: Value) -> Value {
    json!({
        "name": name, "image": IMAGE,
        "command": ["sh", "-c", format!("N={name}; {MARK}; {body}")],
        "volumeMounts": mounts,
    })
}

#[test]
fn t155_a_main_container_exiting_42_restarts_every_container_in_place() {
    let root = need_root!();
    let mounts = json!([
        {"name": "persistent", "mountPath": "/persistent"},
        {"name": "scratch", "mountPath": "/scratch"},
    ]);
    // The first run of `app` leaves a file in the emptyDir and exits 42; the second finds it.
    let app = "m Started; if [ -e /scratch/before ]; then cat /scratch/before > /persistent/seen; m Second; exec sleep 100000; fi; echo kept > /scratch/before; m Exiting; exit 42";
    let mut app = sh("app", app, mounts.clone());
    app["restartPolicy"] = json!("Never");
    app["restartPolicyRules"] = json!([{"action": "RestartAllContainers", "exitCodes": {"operator": "In", "values": [42]}}]);
    let other = sh(
        "other",
        "trap 'm Exiting; exit 0' TERM; m Started; sleep 100000 & wait $!",
        mounts.clone(),
    );
    let p = start_pod(
        root,
        &unique("t155all"),
        json!({
            "restartPolicy": "Never",
            "terminationGracePeriodSeconds": 30,
            "initContainers": [sh("init", "m Started; m Exiting", mounts.clone())],
            "containers": [other, app],
            "volumes": [{"name": "scratch", "emptyDir": {}}],
        }),
    );
    assert!(
        p.wait("jsonpath={.status.containerStatuses[1].restartCount}=1", 60),
        "app never restarted: {}",
        p.get()
    );
    assert!(
        p.wait("condition=Ready", 30),
        "never Ready again: {}",
        p.get()
    );
    // Ready comes with `app`'s start; its Second marker follows a moment later.
    let mut l = p.log();
    for _ in 0..50 {
        if !l.at("app", "Second").is_empty() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        l = p.log();
    }
    // The init container ran twice, each time before the main containers.
    let init = l.at("init", "Started");
    assert_eq!(init.len(), 2, "{:?}", l.0);
    let other_starts = l.at("other", "Started");
    assert_eq!(other_starts.len(), 2, "{:?}", l.0);
    assert!(
        init[0] < other_starts[0] && other_starts[0] < init[1],
        "{:?}",
        l.0
    );
    assert!(init[1] < other_starts[1], "{:?}", l.0);
    // `other` was stopped before init ran again; the emptyDir kept the file.
    assert!(l.first("other", "Exiting") <= init[1], "{:?}", l.0);
    assert_eq!(l.at("app", "Second").len(), 1, "{:?}", l.0);
    let seen = std::fs::read_to_string(p.log_dir.join("seen")).unwrap_or_default();
    assert_eq!(seen.trim(), "kept", "the emptyDir survived the restart");
    for c in ["init", "other", "app"] {
        let s = p.status_of(c);
        assert_eq!(s["restartCount"], 1, "{c}: {s}");
        assert_eq!(
            s["lastState"]["terminated"]["reason"], "RestartingAllContainers",
            "{c}: {s}"
        );
    }
    let pod = p.get();
    let cond = |t: &str| {
        pod["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == t)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(cond("AllContainersRestarting")["status"], "False", "{pod}");
    assert_eq!(cond("Initialized")["status"], "True", "{pod}");
    assert_eq!(pod["status"]["phase"], "Running");
    // Same sandbox: no SandboxChanged, and each container was killed for the restart.
    let events = p.events();
    assert!(!events.contains("SandboxChanged"), "{events}");
    assert!(events.contains("Stopping container other"), "{events}");
}

#[test]
fn t229_readiness_gates_are_set_through_the_status_subresource() {
    let root = need_root!();
    let name = unique("t229gates");
    let p = start_pod(
        root,
        &name,
        json!({
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 2,
            "readinessGates": [
                {"conditionType": "k8s.io/test-condition1"},
                {"conditionType": "k8s.io/test-condition2"},
            ],
            "containers": [sh("c", "m Started; exec sleep 100000", json!([{"name": "persistent", "mountPath": "/persistent"}]))],
        }),
    );
    p.wait_phase("Running", 30);
    let ready = |p: &Pod| {
        p.get()["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|c| c["type"] == "Ready")
            .cloned()
            .unwrap_or(Value::Null)
    };
    // ContainersReady, but not Ready: the gates' conditions do not exist.
    assert!(p.wait("condition=ContainersReady", 30), "{}", p.get());
    let r = ready(&p);
    assert_eq!(r["status"], "False", "{r}");
    assert_eq!(r["reason"], "ReadinessGatesNotReady", "{r}");
    let patch = |gate: &str, status: &str| {
        let body = json!({"status": {"conditions": [{"type": gate, "status": status}]}});
        let (ok, out) = tandem(
            root,
            &[
                "patch",
                "pod",
                &name,
                "--subresource=status",
                "--type=merge",
                "-p",
                &body.to_string(),
            ],
        );
        assert!(ok, "patch {gate}={status}: {out}");
        assert!(out.contains(&format!("pod/{name} patched")), "{out}");
    };
    patch("k8s.io/test-condition1", "True");
    std::thread::sleep(Duration::from_millis(500));
    let r = ready(&p);
    assert_eq!(r["status"], "False", "one gate is not enough: {r}");
    assert_eq!(
        r["message"],
        "corresponding condition of pod readiness gate \"k8s.io/test-condition2\" does not exist."
    );
    patch("k8s.io/test-condition2", "True");
    assert!(
        p.wait("condition=Ready", 10),
        "both gates True: {}",
        p.get()
    );
    let gate = p.get()["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|c| c["type"] == "k8s.io/test-condition1")
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(gate["status"], "True");
    assert!(gate["lastTransitionTime"].is_string(), "{gate}");
    patch("k8s.io/test-condition1", "False");
    assert!(p.wait("condition=Ready=false", 10), "{}", p.get());
    assert_eq!(
        ready(&p)["message"],
        "the status of pod readiness gate \"k8s.io/test-condition1\" is not \"True\", but False"
    );
    // What a controller may not do is refused, with the pod left as it was.
    for args in [
        vec![
            "patch",
            "pod",
            &name,
            "--subresource=status",
            "-p",
            r#"{"status":{"conditions":[{"type":"Ready","status":"True"}]}}"#,
        ],
        vec![
            "patch",
            "pod",
            &name,
            "--subresource=status",
            "-p",
            r#"{"status":{"phase":"Failed"}}"#,
        ],
        vec![
            "patch",
            "pod",
            &name,
            "--subresource=status",
            "--type=json",
            "-p",
            "[]",
        ],
        vec![
            "patch",
            "pod",
            &name,
            "-p",
            r#"{"status":{"conditions":[{"type":"k8s.io/test-condition1","status":"True"}]}}"#,
        ],
    ] {
        let (ok, out) = tandem(root, &args);
        assert!(!ok, "{args:?} was taken: {out}");
        assert!(out.contains("hint:"), "{out}");
    }
    assert_eq!(ready(&p)["status"], "False");
}
