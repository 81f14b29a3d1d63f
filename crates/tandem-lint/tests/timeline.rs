//! Timelines of recorded runs. `fixtures/timeline/sidecar-logging` is a real run of
//! `examples/sidecar-logging.yaml` (events.jsonl and pod.json copied from the pod directory);
//! `fixtures/timeline/restarts` is a real run of its `pod.yaml`: an init container, a native
//! sidecar with startup and readiness probes that ignores SIGTERM (and is killed), an app that
//! fails once and is restarted.
//!
//! The HTML page is rendered by headless Chromium (when installed): the DOM must hold every lane and
//! the expected spans, and a screenshot is kept under target/test-artifacts/.

mod common;

use std::collections::HashMap;

use common::{artifacts, balanced, chromium, fixtures, tags};
use tandem_api::plan::ContainerRole;
use tandem_lint::timeline::{MarkKind, SpanKind, Timeline};

fn load(name: &str) -> (String, String) {
    let dir = fixtures().join("timeline").join(name);
    (
        std::fs::read_to_string(dir.join("pod.json")).expect("pod.json"),
        std::fs::read_to_string(dir.join("events.jsonl")).expect("events.jsonl"),
    )
}

fn recorded(name: &str) -> Timeline {
    let (pod, events) = load(name);
    Timeline::from_files(&pod, &events, None).expect("timeline")
}

fn span(t: &Timeline, container: &str, kind: SpanKind, attempt: u32) -> (i64, i64) {
    let lane = t
        .lanes
        .iter()
        .find(|l| l.container == container)
        .unwrap_or_else(|| panic!("no lane {container}"));
    let s = lane
        .spans
        .iter()
        .find(|s| s.kind == kind && s.attempt == attempt)
        .unwrap_or_else(|| {
            panic!(
                "no {kind:?} span {attempt} for {container}: {:?}",
                lane.spans
            )
        });
    (s.start_us, s.end_us)
}

#[test]
fn the_sidecar_starts_before_and_stops_after_the_app() {
    let t = recorded("sidecar-logging");
    assert_eq!(t.pod, "sidecar-logging");
    assert_eq!(t.phase, "Succeeded");
    assert!(!t.live);
    let lanes: Vec<(&str, ContainerRole)> = t
        .lanes
        .iter()
        .map(|l| (l.container.as_str(), l.role))
        .collect();
    assert_eq!(
        lanes,
        vec![
            ("log-shipper", ContainerRole::Sidecar),
            ("app", ContainerRole::Main)
        ]
    );
    let shipper = span(&t, "log-shipper", SpanKind::Running, 0);
    let app = span(&t, "app", SpanKind::Running, 0);
    assert!(
        shipper.0 < app.0,
        "sidecar started at {} after the app at {}",
        shipper.0,
        app.0
    );
    assert!(
        shipper.1 > app.1,
        "sidecar stopped at {} before the app at {}",
        shipper.1,
        app.1
    );
    // The app waited for the sidecar to start.
    let waiting = span(&t, "app", SpanKind::Waiting, 0);
    assert_eq!(waiting.1, app.0);
    // Both end terminated with exit code 0; the sidecar was asked to stop with its grace period.
    let shipper_lane = &t.lanes[0];
    let kill = shipper_lane
        .marks
        .iter()
        .find(|m| m.kind == MarkKind::Signal)
        .expect("Killing mark");
    assert_eq!(kill.label, "SIGTERM · grace 5s");
    assert!(
        kill.detail.contains("killReason=PodTermination"),
        "{}",
        kill.detail
    );
    assert!(kill.time_us >= app.1 && kill.time_us <= shipper.1);
    for lane in &t.lanes {
        let term = lane
            .spans
            .iter()
            .find(|s| s.kind == SpanKind::Terminated)
            .expect("terminated");
        assert_eq!(term.exit_code, Some(0));
        assert_eq!(term.end_us, t.end_us);
        assert!(lane
            .marks
            .iter()
            .any(|m| m.kind == MarkKind::Exit && m.label == "exit 0"));
    }
}

#[test]
fn restarts_probes_and_signals_of_a_recorded_run() {
    let t = recorded("restarts");
    let names: Vec<&str> = t.lanes.iter().map(|l| l.container.as_str()).collect();
    assert_eq!(names, vec!["setup", "proxy", "app"]);
    // The init container ran to completion before the sidecar started.
    let setup = span(&t, "setup", SpanKind::Running, 0);
    let proxy = span(&t, "proxy", SpanKind::Running, 0);
    assert!(setup.1 <= proxy.0);
    // The app failed once and was restarted: two attempts, a back-off wait between them.
    let app = &t.lanes[2];
    assert_eq!(app.restarts, 1);
    let a0 = span(&t, "app", SpanKind::Running, 0);
    let wait1 = span(&t, "app", SpanKind::Waiting, 1);
    let a1 = span(&t, "app", SpanKind::Running, 1);
    assert_eq!((a0.1, wait1.1), (wait1.0, a1.0));
    let exits: Vec<&str> = app
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Exit)
        .map(|m| m.label.as_str())
        .collect();
    assert_eq!(exits, vec!["exit 1", "exit 0"]);
    // The app started only once the sidecar's startup probe succeeded; readiness followed.
    let proxy_lane = &t.lanes[1];
    let probes: Vec<&str> = proxy_lane
        .marks
        .iter()
        .filter(|m| matches!(m.kind, MarkKind::ProbeFailed | MarkKind::ProbeSucceeded))
        .map(|m| m.label.as_str())
        .collect();
    assert_eq!(probes, vec!["startup ✗", "startup ✓", "readiness ✓"]);
    let started = proxy_lane
        .marks
        .iter()
        .find(|m| m.label == "startup ✓")
        .expect("startup ok");
    assert!(started.time_us <= a0.0);
    let ready = span(&t, "proxy", SpanKind::Ready, 0);
    assert_eq!(ready.1, proxy.1);
    // It ignored SIGTERM: SIGKILL after the grace period, exit 137.
    let signals: Vec<&str> = proxy_lane
        .marks
        .iter()
        .filter(|m| m.kind == MarkKind::Signal)
        .map(|m| m.label.as_str())
        .collect();
    assert_eq!(signals, vec!["SIGTERM · grace 2s", "SIGKILL"]);
    assert!(proxy_lane
        .marks
        .iter()
        .any(|m| m.label == "exit 137, SIGKILL"));
    let term = proxy_lane
        .spans
        .iter()
        .find(|s| s.kind == SpanKind::Terminated)
        .expect("terminated");
    assert_eq!(term.exit_code, Some(137));
}

#[test]
fn a_running_pod_ends_at_now_with_open_spans() {
    let (pod, events) = load("sidecar-logging");
    let pod = pod
        .replace("\"phase\": \"Succeeded\"", "\"phase\": \"Running\"")
        .replace("\"phase\":\"Succeeded\"", "\"phase\":\"Running\"");
    let first_four: String = events.lines().take(4).map(|l| format!("{l}\n")).collect();
    let started: i64 = first_four
        .lines()
        .last()
        .and_then(|l| l.split("\"time_us\":").nth(1))
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.parse().ok())
        .expect("time");
    let now = started + 3_000_000;
    let t = Timeline::from_files(&pod, &format!("{first_four}{{\"truncated"), Some(now))
        .expect("timeline");
    assert!(t.live);
    assert_eq!(t.end_us, now);
    assert_eq!(t.skipped_lines, 1);
    for lane in &t.lanes {
        let running = lane
            .spans
            .iter()
            .find(|s| s.kind == SpanKind::Running)
            .expect("running");
        assert!(running.open);
        assert_eq!(running.end_us, now);
        assert!(!lane.spans.iter().any(|s| s.kind == SpanKind::Terminated));
    }
    assert!(t
        .html(Some(1))
        .contains("<meta http-equiv=\"refresh\" content=\"1\">"));
    assert!(!t.html(None).contains("http-equiv"));
}

#[test]
fn without_events_the_status_gives_the_spans() {
    let (pod, _) = load("restarts");
    let t = Timeline::from_files(&pod, "", None).expect("timeline");
    let app = &t.lanes[2];
    let runs: Vec<u32> = app
        .spans
        .iter()
        .filter(|s| s.kind == SpanKind::Running)
        .map(|s| s.attempt)
        .collect();
    assert_eq!(runs, vec![0, 1]);
    assert_eq!(app.restarts, 1);
    assert!(app
        .spans
        .iter()
        .any(|s| s.kind == SpanKind::Terminated && s.exit_code == Some(0)));
}

#[test]
fn bad_pod_json_is_an_error() {
    let err = Timeline::from_files("{\"kind\": 3", "", None).expect_err("not a pod");
    assert!(
        err.to_string().starts_with("pod.json is not a v1 Pod"),
        "{err}"
    );
}

fn render_in_chromium(name: &str, t: &Timeline) -> Option<String> {
    let html = t.html(None);
    balanced(&html).expect("balanced HTML");
    let page = artifacts().join(format!("timeline-{name}.html"));
    std::fs::write(&page, &html).expect("write page");
    let url = format!("file://{}", page.display());
    let out = chromium(&["--dump-dom", &url])?;
    let shot = artifacts().join(format!("timeline-{name}.png"));
    let _ = std::fs::remove_file(&shot);
    chromium(&[
        &format!("--screenshot={}", shot.display()),
        "--window-size=1280,900",
        &url,
    ]);
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(
        png.starts_with(b"\x89PNG\r\n\x1a\n") && png.len() > 10_000,
        "not a real PNG"
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn dom_spans(dom: &str) -> Vec<HashMap<String, String>> {
    tags(dom, "<rect class=\"span ")
}

fn dom_span(
    spans: &[HashMap<String, String>],
    container: &str,
    kind: &str,
    attempt: &str,
) -> (i64, i64) {
    let s = spans
        .iter()
        .find(|s| {
            s["data-container"] == container
                && s["data-kind"] == kind
                && s["data-attempt"] == attempt
        })
        .unwrap_or_else(|| panic!("no {kind} span {attempt} of {container} in the DOM"));
    (
        s["data-start-us"].parse().expect("start"),
        s["data-end-us"].parse().expect("end"),
    )
}

#[test]
fn chromium_renders_the_sidecar_timeline() {
    let t = recorded("sidecar-logging");
    let Some(dom) = render_in_chromium("sidecar-logging", &t) else {
        return;
    };
    let lanes: Vec<String> = tags(&dom, "<g class=\"lane\"")
        .iter()
        .map(|l| format!("{}:{}", l["data-container"], l["data-role"]))
        .collect();
    assert_eq!(lanes, vec!["log-shipper:sidecar", "app:main"]);
    let spans = dom_spans(&dom);
    let shipper = dom_span(&spans, "log-shipper", "running", "0");
    let app = dom_span(&spans, "app", "running", "0");
    assert!(
        shipper.0 < app.0 && shipper.1 > app.1,
        "shipper {shipper:?} app {app:?}"
    );
    for c in ["log-shipper", "app"] {
        dom_span(&spans, c, "terminated", "0");
        dom_span(&spans, c, "waiting", "0");
    }
    // Hover details and the signal are in the page.
    assert!(dom.contains("<title>log-shipper attempt 0: running for"));
    assert!(tags(&dom, "<g class=\"mark signal\"")
        .iter()
        .any(|m| m["data-container"] == "log-shipper"));
    // The events table lists all seven events.
    assert_eq!(tags(&dom, "<tr class=").len(), 7);
}

#[test]
fn chromium_renders_restarts_and_probes() {
    let t = recorded("restarts");
    let Some(dom) = render_in_chromium("restarts", &t) else {
        return;
    };
    let spans = dom_spans(&dom);
    let a0 = dom_span(&spans, "app", "running", "0");
    let a1 = dom_span(&spans, "app", "running", "1");
    assert!(a0.1 < a1.0);
    dom_span(&spans, "proxy", "ready", "0");
    let marks = tags(&dom, "<g class=\"mark ");
    let kinds = |c: &str, k: &str| {
        marks
            .iter()
            .filter(|m| {
                m.get("data-container").is_some_and(|x| x == c) && m["class"] == format!("mark {k}")
            })
            .count()
    };
    assert_eq!(kinds("proxy", "signal"), 2);
    assert_eq!(kinds("app", "exit"), 2);
    assert!(kinds("proxy", "probe-failed") >= 1 && kinds("proxy", "probe-succeeded") == 2);
    assert!(tags(&dom, "<g class=\"lane\"")
        .iter()
        .any(|l| l["data-container"] == "app" && l["data-restarts"] == "1"));
}
