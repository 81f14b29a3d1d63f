//! The timeline of a pod run, from the events the supervisor recorded (`events.jsonl`) and the last
//! status it wrote (`pod.json`): one lane per container, with waiting, running and terminated spans
//! per attempt, readiness, restarts, probe results, hook failures, signals and exit codes on a time
//! axis. Drawn as SVG (hover details in `<title>`s) or as a self-contained HTML page around it.
//!
//! Every span and mark carries `data-*` attributes (container, attempt, kind, start and end in
//! microseconds) so that tools and tests can read the drawing back.

use std::fmt::Write as _;

use k8s_openapi::api::core::v1::{ContainerStatus, Pod};
use tandem_kubelet::events::{EventDetails, EventReason, EventType, PodEvent};
use tandem_kubelet::probe::{ProbeKind, ProbeResult};

use crate::error::Error;
use crate::svg::{clip, esc, n, text_width};
use tandem_api::plan::ContainerRole;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpanKind {
    Waiting,
    Running,
    Terminated,
    /// Readiness (from readiness probe results), drawn as a band under the running span.
    Ready,
}

impl SpanKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SpanKind::Waiting => "waiting",
            SpanKind::Running => "running",
            SpanKind::Terminated => "terminated",
            SpanKind::Ready => "ready",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Span {
    pub kind: SpanKind,
    pub attempt: u32,
    pub start_us: i64,
    pub end_us: i64,
    /// Still going when the record ends (the pod is running).
    pub open: bool,
    /// Short text drawn in the bar.
    pub label: String,
    /// Hover text.
    pub detail: String,
    /// For terminated spans: the exit code.
    pub exit_code: Option<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkKind {
    /// A stop request or a signal (`Killing` events).
    Signal,
    Exit,
    ProbeFailed,
    ProbeSucceeded,
    ProbeWarning,
    Hook,
    BackOff,
    Failed,
    Other,
}

impl MarkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            MarkKind::Signal => "signal",
            MarkKind::Exit => "exit",
            MarkKind::ProbeFailed => "probe-failed",
            MarkKind::ProbeSucceeded => "probe-succeeded",
            MarkKind::ProbeWarning => "probe-warning",
            MarkKind::Hook => "hook",
            MarkKind::BackOff => "backoff",
            MarkKind::Failed => "failed",
            MarkKind::Other => "other",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mark {
    pub time_us: i64,
    pub kind: MarkKind,
    pub attempt: Option<u32>,
    pub label: String,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Lane {
    pub container: String,
    pub role: ContainerRole,
    pub spans: Vec<Span>,
    pub marks: Vec<Mark>,
    pub restarts: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Timeline {
    pub pod: String,
    pub namespace: String,
    pub phase: String,
    pub reason: Option<String>,
    pub start_us: i64,
    pub end_us: i64,
    /// The pod has not finished: spans still open end at `end_us` (the time given as "now").
    pub live: bool,
    pub lanes: Vec<Lane>,
    /// Events about the pod as a whole.
    pub pod_marks: Vec<Mark>,
    /// Every event, in time order, for the table of the HTML page.
    pub events: Vec<PodEvent>,
    /// Lines of `events.jsonl` that did not parse (a line being written, or damage).
    pub skipped_lines: usize,
}

/// Whether the pod has reached a terminal phase.
pub fn finished(pod: &Pod) -> bool {
    matches!(
        pod.status.as_ref().and_then(|s| s.phase.as_deref()),
        Some("Succeeded" | "Failed")
    )
}

/// Parses `pod.json`.
pub fn parse_pod(json: &str) -> Result<Pod, Error> {
    serde_json::from_str(json).map_err(|e| Error::PodJson(e.to_string()))
}

/// Parses `events.jsonl`: one [`PodEvent`] per line; returns the events and how many lines were
/// skipped because they did not parse.
pub fn parse_events(jsonl: &str) -> (Vec<PodEvent>, usize) {
    let mut events = Vec::new();
    let mut skipped = 0;
    for line in jsonl.lines().filter(|l| !l.trim().is_empty()) {
        match serde_json::from_str::<PodEvent>(line) {
            Ok(e) => events.push(e),
            Err(_) => skipped += 1,
        }
    }
    (events, skipped)
}

fn details_text(e: &PodEvent) -> String {
    e.details
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

fn signal_name(n: i64) -> String {
    let name = match n {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        6 => "SIGABRT",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        15 => "SIGTERM",
        _ => return format!("signal {n}"),
    };
    name.to_string()
}

/// Seconds with millisecond precision: `1.250s`.
fn secs(us: i64) -> String {
    format!("{:.3}s", us as f64 / 1e6)
}

fn time_us(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> i64 {
    t.0.as_microsecond()
}

/// RFC 3339 in UTC with microseconds.
pub fn rfc3339(us: i64) -> String {
    k8s_openapi::jiff::Timestamp::from_microsecond(us)
        .map(|t| format!("{t:.6}"))
        .unwrap_or_else(|_| us.to_string())
}

struct LaneBuilder {
    lane: Lane,
    /// `(since, attempt)` of the state the container is in.
    waiting: Option<(i64, u32)>,
    running: Option<(i64, u32)>,
    exited: Option<(i64, u32, i64, String)>,
    ready: Option<(i64, u32)>,
    seen: bool,
}

impl LaneBuilder {
    fn close_ready(&mut self, t: i64) {
        if let Some((since, attempt)) = self.ready.take() {
            self.lane.spans.push(Span {
                kind: SpanKind::Ready,
                attempt,
                start_us: since,
                end_us: t,
                open: false,
                label: "ready".into(),
                detail: format!(
                    "{} ready (attempt {attempt}) for {}",
                    self.lane.container,
                    secs(t - since)
                ),
                exit_code: None,
            });
        }
    }

    fn started(&mut self, t: i64, attempt: u32) {
        let name = self.lane.container.clone();
        let since = match (self.waiting.take(), self.exited.take()) {
            (Some((since, _)), _) => Some(since),
            (None, Some((at, ..))) => Some(at),
            (None, None) => None,
        };
        if let Some(since) = since {
            if t > since {
                let why = if attempt == 0 {
                    "waiting to start"
                } else {
                    "waiting to restart (back-off)"
                };
                self.lane.spans.push(Span {
                    kind: SpanKind::Waiting,
                    attempt,
                    start_us: since,
                    end_us: t,
                    open: false,
                    label: "waiting".into(),
                    detail: format!("{name} attempt {attempt}: {why} for {}", secs(t - since)),
                    exit_code: None,
                });
            }
        }
        self.running = Some((t, attempt));
    }

    fn exited(&mut self, t: i64, attempt: u32, code: i64, reason: String, signal: Option<i64>) {
        let name = self.lane.container.clone();
        self.close_ready(t);
        if let Some((since, a)) = self.running.take() {
            self.lane.spans.push(Span {
                kind: SpanKind::Running,
                attempt: a,
                start_us: since,
                end_us: t,
                open: false,
                label: format!("running #{a}"),
                detail: format!(
                    "{name} attempt {a}: running for {} (started {}, exited {})",
                    secs(t - since),
                    rfc3339(since),
                    rfc3339(t)
                ),
                exit_code: None,
            });
        }
        let sig = signal
            .map(|s| format!(", {}", signal_name(s)))
            .unwrap_or_default();
        self.lane.marks.push(Mark {
            time_us: t,
            kind: MarkKind::Exit,
            attempt: Some(attempt),
            label: format!("exit {code}{sig}"),
            detail: format!(
                "{name} attempt {attempt} exited with code {code}{sig} ({reason}) at {}",
                rfc3339(t)
            ),
        });
        self.exited = Some((t, attempt, code, reason));
    }

    fn finish(&mut self, end: i64, live: bool) {
        let name = self.lane.container.clone();
        self.close_ready(end);
        if let Some((since, attempt)) = self.running.take() {
            self.lane.spans.push(Span {
                kind: SpanKind::Running,
                attempt,
                start_us: since,
                end_us: end.max(since),
                open: true,
                label: format!("running #{attempt}"),
                detail: format!(
                    "{name} attempt {attempt}: running since {} ({})",
                    rfc3339(since),
                    if live {
                        "still running"
                    } else {
                        "no exit recorded"
                    }
                ),
                exit_code: None,
            });
        }
        if let Some((at, attempt, code, reason)) = self.exited.take() {
            self.lane.spans.push(Span {
                kind: SpanKind::Terminated,
                attempt,
                start_us: at,
                end_us: end.max(at),
                open: false,
                label: format!("{reason} ({code})"),
                detail: format!("{name} attempt {attempt}: terminated, {reason}, exit code {code}"),
                exit_code: Some(code),
            });
        }
        if let Some((since, attempt)) = self.waiting.take() {
            if end > since {
                self.lane.spans.push(Span {
                    kind: SpanKind::Waiting,
                    attempt,
                    start_us: since,
                    end_us: end,
                    open: live,
                    label: "waiting".into(),
                    detail: format!("{name}: waiting, never started"),
                    exit_code: None,
                });
            }
        }
        self.lane
            .spans
            .sort_by_key(|s| (s.start_us, s.kind == SpanKind::Ready));
    }

    fn event(&mut self, e: &PodEvent) {
        self.seen = true;
        let t = e.time_us;
        let attempt = e.attempt.unwrap_or(0);
        let mark = |kind: MarkKind, label: String| Mark {
            time_us: t,
            kind,
            attempt: e.attempt,
            label,
            detail: {
                let d = details_text(e);
                if d.is_empty() {
                    format!("{} {}: {}", rfc3339(t), e.reason, e.message)
                } else {
                    format!("{} {}: {} ({d})", rfc3339(t), e.reason, e.message)
                }
            },
        };
        match e.reason {
            EventReason::Created => {}
            EventReason::Started => self.started(t, attempt),
            EventReason::Exited => {
                let (code, reason, signal) = match &e.details {
                    Some(EventDetails::Exit {
                        exit_code,
                        signal,
                        reason,
                    }) => (i64::from(*exit_code), reason.clone(), signal.map(i64::from)),
                    _ => (-1, "Exited".into(), None),
                };
                self.exited(t, attempt, code, reason, signal);
            }
            EventReason::Killing => {
                let label = match &e.details {
                    Some(EventDetails::ForceKill { signal }) => format!("{signal:?}"),
                    Some(EventDetails::Kill {
                        grace_period_seconds,
                        ..
                    }) => format!("SIGTERM · grace {}s", n(*grace_period_seconds)),
                    _ => "stop".into(),
                };
                let m = mark(MarkKind::Signal, label);
                self.lane.marks.push(m);
            }
            EventReason::Unhealthy => {
                let label = e
                    .message
                    .split_whitespace()
                    .next()
                    .map_or("probe failed".to_string(), |w| {
                        format!("{} ✗", w.to_lowercase())
                    });
                let m = mark(MarkKind::ProbeFailed, label);
                self.lane.marks.push(m);
            }
            EventReason::ProbeResult => {
                let Some(EventDetails::Probe { probe, result }) = e.details else {
                    return;
                };
                let ok = result == ProbeResult::Success;
                if probe == ProbeKind::Readiness {
                    if ok {
                        self.ready.get_or_insert((t, attempt));
                    } else {
                        self.close_ready(t);
                    }
                }
                let label = format!(
                    "{} {}",
                    probe.label().to_lowercase(),
                    if ok { "✓" } else { "✗" }
                );
                let m = mark(
                    if ok {
                        MarkKind::ProbeSucceeded
                    } else {
                        MarkKind::ProbeFailed
                    },
                    label,
                );
                self.lane.marks.push(m);
            }
            EventReason::ProbeWarning => {
                let m = mark(MarkKind::ProbeWarning, "probe warning".into());
                self.lane.marks.push(m);
            }
            EventReason::FailedPostStartHook | EventReason::FailedPreStopHook => {
                let label = if e.reason == EventReason::FailedPostStartHook {
                    "postStart failed"
                } else {
                    "preStop failed"
                };
                let m = mark(MarkKind::Hook, label.into());
                self.lane.marks.push(m);
            }
            EventReason::BackOff => {
                let m = mark(MarkKind::BackOff, "back-off".into());
                self.lane.marks.push(m);
            }
            EventReason::Failed => {
                let m = mark(MarkKind::Failed, "failed".into());
                self.lane.marks.push(m);
                self.running = None;
                self.exited = Some((t, attempt, 128, "StartError".into()));
            }
            other => {
                let kind = if e.kind == EventType::Warning {
                    MarkKind::Failed
                } else {
                    MarkKind::Other
                };
                let m = mark(kind, other.to_string());
                self.lane.marks.push(m);
            }
        }
    }

    /// No events for this container: what the status says.
    fn apply_status(&mut self, st: &ContainerStatus, start: i64) {
        let restarts = u32::try_from(st.restart_count).unwrap_or(0);
        if let Some(term) = st.last_state.as_ref().and_then(|s| s.terminated.as_ref()) {
            let attempt = restarts.saturating_sub(1);
            if let (Some(a), Some(b)) = (&term.started_at, &term.finished_at) {
                self.started(time_us(a), attempt);
                self.exited(
                    time_us(b),
                    attempt,
                    i64::from(term.exit_code),
                    term.reason.clone().unwrap_or_default(),
                    term.signal.map(i64::from),
                );
            }
        }
        let Some(state) = &st.state else { return };
        if let Some(r) = &state.running {
            if let Some(at) = &r.started_at {
                self.started(time_us(at), restarts);
            }
        } else if let Some(term) = &state.terminated {
            if let (Some(a), Some(b)) = (&term.started_at, &term.finished_at) {
                self.started(time_us(a), restarts);
                self.exited(
                    time_us(b),
                    restarts,
                    i64::from(term.exit_code),
                    term.reason.clone().unwrap_or_default(),
                    term.signal.map(i64::from),
                );
            }
        } else if state.waiting.is_some() {
            self.waiting.get_or_insert((start, restarts));
        }
    }
}

impl Timeline {
    /// Builds the timeline. `now_us` ends the spans still open when the pod has not finished (pass
    /// the current time); a finished pod ends at its last event or status time.
    pub fn build(
        pod: &Pod,
        events: Vec<PodEvent>,
        skipped_lines: usize,
        now_us: Option<i64>,
    ) -> Timeline {
        let mut events = events;
        events.sort_by_key(|e| e.time_us);
        let status = pod.status.clone().unwrap_or_default();
        let spec = pod.spec.clone().unwrap_or_default();
        let live = !finished(pod);

        let mut status_times: Vec<i64> = Vec::new();
        let all_status: Vec<&ContainerStatus> = status
            .init_container_statuses
            .iter()
            .flatten()
            .chain(status.container_statuses.iter().flatten())
            .collect();
        for st in &all_status {
            for s in [st.state.as_ref(), st.last_state.as_ref()]
                .into_iter()
                .flatten()
            {
                if let Some(t) = &s.terminated {
                    status_times.extend(t.started_at.as_ref().map(time_us));
                    status_times.extend(t.finished_at.as_ref().map(time_us));
                }
                if let Some(r) = &s.running {
                    status_times.extend(r.started_at.as_ref().map(time_us));
                }
            }
        }
        let first_event = events.first().map(|e| e.time_us);
        let start = [status.start_time.as_ref().map(time_us), first_event]
            .into_iter()
            .flatten()
            .chain(status_times.iter().copied())
            .min()
            .unwrap_or(0);
        let last = events
            .last()
            .map(|e| e.time_us)
            .into_iter()
            .chain(status_times.iter().copied())
            .max()
            .unwrap_or(start);
        let end = match (live, now_us) {
            (true, Some(now)) => now.max(last),
            _ => last,
        }
        .max(start + 1_000);

        let mut builders: Vec<LaneBuilder> = Vec::new();
        let add = |name: &str, role: ContainerRole, builders: &mut Vec<LaneBuilder>| {
            if !builders.iter().any(|b| b.lane.container == name) {
                builders.push(LaneBuilder {
                    lane: Lane {
                        container: name.to_string(),
                        role,
                        spans: Vec::new(),
                        marks: Vec::new(),
                        restarts: 0,
                    },
                    waiting: Some((start, 0)),
                    running: None,
                    exited: None,
                    ready: None,
                    seen: false,
                });
            }
        };
        for c in spec.init_containers.iter().flatten() {
            let role = ContainerRole::of(true, c.restart_policy.as_deref());
            add(&c.name, role, &mut builders);
        }
        for c in &spec.containers {
            add(&c.name, ContainerRole::Main, &mut builders);
        }
        for c in spec.ephemeral_containers.iter().flatten() {
            add(&c.name, ContainerRole::Ephemeral, &mut builders);
        }
        for e in &events {
            if let Some(c) = &e.container {
                add(c, ContainerRole::Main, &mut builders);
            }
        }
        let mut pod_marks = Vec::new();
        for e in &events {
            match &e.container {
                Some(c) => {
                    if let Some(b) = builders.iter_mut().find(|b| &b.lane.container == c) {
                        b.event(e);
                    }
                }
                None => pod_marks.push(Mark {
                    time_us: e.time_us,
                    kind: if e.kind == EventType::Warning {
                        MarkKind::Failed
                    } else {
                        MarkKind::Other
                    },
                    attempt: None,
                    label: e.reason.to_string(),
                    detail: format!("{} {}: {}", rfc3339(e.time_us), e.reason, e.message),
                }),
            }
        }
        let lanes = builders
            .into_iter()
            .map(|mut b| {
                let st = all_status.iter().find(|s| s.name == b.lane.container);
                if !b.seen {
                    if let Some(st) = st {
                        b.waiting = None;
                        b.apply_status(st, start);
                        if b.running.is_none() && b.exited.is_none() && b.lane.spans.is_empty() {
                            b.waiting = Some((start, 0));
                        }
                    }
                }
                b.finish(end, live);
                let from_events = b
                    .lane
                    .spans
                    .iter()
                    .filter(|s| s.kind == SpanKind::Running)
                    .count()
                    .saturating_sub(1) as u32;
                b.lane.restarts = st
                    .map(|s| u32::try_from(s.restart_count).unwrap_or(0))
                    .unwrap_or(0)
                    .max(from_events);
                b.lane
            })
            .collect();
        Timeline {
            pod: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".into()),
            phase: status.phase.clone().unwrap_or_else(|| "Unknown".into()),
            reason: status.reason.clone(),
            start_us: start,
            end_us: end,
            live,
            lanes,
            pod_marks,
            events,
            skipped_lines,
        }
    }

    /// Parses `pod.json` and `events.jsonl` and builds the timeline.
    pub fn from_files(
        pod_json: &str,
        events_jsonl: &str,
        now_us: Option<i64>,
    ) -> Result<Timeline, Error> {
        let pod = parse_pod(pod_json)?;
        let (events, skipped) = parse_events(events_jsonl);
        Ok(Timeline::build(&pod, events, skipped, now_us))
    }

    /// A tick step (µs) giving at most about ten ticks.
    fn tick_step(&self) -> i64 {
        let span = (self.end_us - self.start_us).max(1);
        let mut step: i64 = 1_000;
        loop {
            for m in [1, 2, 5] {
                if span / (step * m) <= 10 {
                    return step * m;
                }
            }
            step *= 10;
        }
    }

    /// The drawing: a time axis, one lane per container, the pod's own marks, a legend.
    pub fn svg(&self) -> String {
        let frame = Frame::of(self);
        let mut s = String::new();
        let _ = writeln!(
            s,
            "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"tandem-timeline\" data-pod=\"{}\" data-start-us=\"{}\" data-end-us=\"{}\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" font-family=\"sans-serif\" font-size=\"12\">",
            esc(&self.pod),
            self.start_us,
            self.end_us,
            n(W),
            n(frame.height),
            n(W),
            n(frame.height)
        );
        let _ = writeln!(
            s,
            "<title>pod/{} ({}) from {}</title>",
            esc(&self.pod),
            esc(&self.phase),
            rfc3339(self.start_us)
        );
        s.push_str("<rect width=\"100%\" height=\"100%\" fill=\"#fff\"/>\n");
        self.svg_axis(&mut s, &frame);
        for (i, lane) in self.lanes.iter().enumerate() {
            svg_lane(&mut s, &frame, i, lane);
        }
        self.svg_pod_marks(&mut s, &frame);
        svg_legend(&mut s, &frame);
        s.push_str("</svg>\n");
        s
    }

    /// The time axis with its ticks and grid lines.
    fn svg_axis(&self, s: &mut String, frame: &Frame) {
        let (x, axis_bottom, plot) = (|t| frame.x(t), frame.axis_bottom, frame.plot);
        let step = self.tick_step();
        s.push_str("<g class=\"axis\">");
        let _ = write!(
            s,
            "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#57606a\"/>",
            n(LEFT),
            n(TOP - 8.0),
            n(LEFT + plot),
            n(TOP - 8.0)
        );
        let mut t = 0;
        while t <= self.end_us - self.start_us {
            let px = x(self.start_us + t);
            let label = if step >= 1_000_000 || t % 1_000_000 == 0 {
                format!("+{}s", n(t as f64 / 1e6))
            } else if step >= 100_000 {
                format!("+{:.1}s", t as f64 / 1e6)
            } else {
                format!("+{}ms", t / 1_000)
            };
            let _ = write!(
                s,
                "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#d0d7de\" stroke-dasharray=\"2 3\"/><text x=\"{}\" y=\"{}\" text-anchor=\"middle\" fill=\"#57606a\" font-size=\"11\">{}</text>",
                n(px),
                n(TOP - 12.0),
                n(px),
                n(axis_bottom),
                n(px),
                n(TOP - 16.0),
                label
            );
            t += step;
        }
        let _ = write!(
            s,
            "<text x=\"{}\" y=\"{}\" fill=\"#57606a\" font-size=\"11\">{}</text>",
            n(8.0),
            n(TOP - 16.0),
            esc(&format!("t0 = {}", rfc3339(self.start_us)))
        );
        s.push_str("</g>\n");
    }

    /// The pod's own events: a dashed line across every lane.
    fn svg_pod_marks(&self, s: &mut String, frame: &Frame) {
        let (x, axis_bottom) = (|t| frame.x(t), frame.axis_bottom);
        for m in &self.pod_marks {
            let px = x(m.time_us);
            let _ = writeln!(
                s,
                "<g class=\"mark pod {}\" data-time-us=\"{}\"><title>{}</title><line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"#8250df\" stroke-dasharray=\"4 3\"/><text x=\"{}\" y=\"{}\" font-size=\"10\" fill=\"#8250df\">{}</text></g>",
                m.kind.as_str(),
                m.time_us,
                esc(&m.detail),
                n(px),
                n(TOP - 8.0),
                n(px),
                n(axis_bottom),
                n(px + 2.0),
                n(axis_bottom + 12.0),
                esc(&m.label)
            );
        }
    }

    /// A self-contained page: header, the drawing, and the table of events. `refresh` adds a
    /// reload every that many seconds (for `--watch` while the pod runs).
    pub fn html(&self, refresh: Option<u32>) -> String {
        let mut h =
            String::from("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
        if let Some(r) = refresh {
            let _ = writeln!(h, "<meta http-equiv=\"refresh\" content=\"{r}\">");
        }
        let _ = writeln!(h, "<title>timeline of pod/{}</title>", esc(&self.pod));
        h.push_str("<style>\nbody{font-family:sans-serif;margin:24px;color:#24292f}\nh1{font-size:20px;margin:0 0 4px}\n.meta{color:#57606a;margin:0 0 16px}\nsvg{max-width:100%;height:auto;border:1px solid #d0d7de;border-radius:6px}\ntable{border-collapse:collapse;margin-top:20px;font-size:13px}\ntd,th{border-bottom:1px solid #d0d7de;padding:4px 10px;text-align:left;vertical-align:top}\ntr.Warning td{color:#9a3412}\n</style>\n</head>\n<body>\n");
        let _ = writeln!(
            h,
            "<h1>pod/{} <small>({})</small></h1>",
            esc(&self.pod),
            esc(&self.namespace)
        );
        let mut meta = format!(
            "phase {}{} · from {} · {} recorded",
            self.phase,
            self.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default(),
            rfc3339(self.start_us),
            secs(self.end_us - self.start_us)
        );
        if self.live {
            meta.push_str(" · still running");
        }
        if self.skipped_lines > 0 {
            let _ = write!(
                meta,
                " · {} unreadable event line(s) skipped",
                self.skipped_lines
            );
        }
        let _ = writeln!(h, "<p class=\"meta\">{}</p>", esc(&meta));
        h.push_str(&self.svg());
        h.push_str("<table class=\"events\">\n<tr><th>time</th><th>container</th><th>attempt</th><th>reason</th><th>message</th><th>details</th></tr>\n");
        for e in &self.events {
            let kind = if e.kind == EventType::Warning {
                "Warning"
            } else {
                "Normal"
            };
            let _ = writeln!(
                h,
                "<tr class=\"{kind}\"><td>+{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                secs(e.time_us - self.start_us),
                esc(e.container.as_deref().unwrap_or("(pod)")),
                e.attempt.map(|a| a.to_string()).unwrap_or_default(),
                esc(&e.reason.to_string()),
                esc(&e.message),
                esc(&details_text(e))
            );
        }
        h.push_str("</table>\n</body>\n</html>\n");
        h
    }
}
const W: f64 = 1200.0;
const LEFT: f64 = 210.0;
const RIGHT: f64 = 40.0;
const TOP: f64 = 56.0;
const LANE: f64 = 84.0;
const BAR: f64 = 20.0;

/// Where the drawing's time axis lies: the plot's width, the time it spans, where lanes end.
struct Frame {
    start_us: i64,
    span: f64,
    plot: f64,
    axis_bottom: f64,
    height: f64,
}

impl Frame {
    fn of(t: &Timeline) -> Frame {
        let lanes = t.lanes.len() as f64;
        Frame {
            start_us: t.start_us,
            span: (t.end_us - t.start_us).max(1) as f64,
            plot: W - LEFT - RIGHT,
            axis_bottom: TOP + LANE * lanes,
            height: TOP + LANE * lanes + 70.0,
        }
    }

    /// The x of time `t`.
    fn x(&self, t: i64) -> f64 {
        LEFT + (t - self.start_us) as f64 / self.span * self.plot
    }
}

/// One container's lane: its label, its spans (waiting, running, ready, terminated), its marks.
fn svg_lane(s: &mut String, frame: &Frame, i: usize, lane: &Lane) {
    let x = |t| frame.x(t);
    let y0 = TOP + LANE * i as f64;
    let bar_y = y0 + 28.0;
    let _ = write!(
        s,
        "<g class=\"lane\" data-container=\"{}\" data-role=\"{}\" data-restarts=\"{}\">",
        esc(&lane.container),
        lane.role.as_str(),
        lane.restarts
    );
    if i % 2 == 1 {
        let _ = write!(
            s,
            "<rect x=\"0\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#f6f8fa\"/>",
            n(y0),
            n(W),
            n(LANE)
        );
    }
    let role = match lane.role {
        ContainerRole::Init => "init container",
        ContainerRole::Sidecar => "native sidecar",
        ContainerRole::Main => "container",
        ContainerRole::Ephemeral => "ephemeral container",
    };
    let restarts = if lane.restarts > 0 {
        format!(
            " · {} restart{}",
            lane.restarts,
            if lane.restarts == 1 { "" } else { "s" }
        )
    } else {
        String::new()
    };
    let _ = write!(
        s,
        "<text class=\"lane-label\" x=\"12\" y=\"{}\" font-weight=\"bold\">{}</text><text x=\"12\" y=\"{}\" fill=\"#57606a\" font-size=\"11\">{}</text>",
        n(bar_y + 8.0),
        esc(&clip(&lane.container, 26)),
        n(bar_y + 24.0),
        esc(&format!("{role}{restarts}"))
    );
    for sp in &lane.spans {
        let (x0, x1) = (x(sp.start_us), x(sp.end_us));
        let w = (x1 - x0).max(1.5);
        let (y, h, fill) = match sp.kind {
            SpanKind::Waiting => (bar_y, BAR, "#d0d7de"),
            SpanKind::Running => (bar_y, BAR, "#2da44e"),
            SpanKind::Terminated if sp.exit_code == Some(0) => (bar_y + 5.0, BAR - 10.0, "#8c959f"),
            SpanKind::Terminated => (bar_y + 5.0, BAR - 10.0, "#fa4549"),
            SpanKind::Ready => (bar_y + BAR + 2.0, 4.0, "#0969da"),
        };
        let _ = write!(
            s,
            "<rect class=\"span {}\" data-container=\"{}\" data-kind=\"{}\" data-attempt=\"{}\" data-start-us=\"{}\" data-end-us=\"{}\" data-open=\"{}\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" rx=\"2\" fill=\"{fill}\"><title>{}</title></rect>",
            sp.kind.as_str(),
            esc(&lane.container),
            sp.kind.as_str(),
            sp.attempt,
            sp.start_us,
            sp.end_us,
            sp.open,
            n(x0),
            n(y),
            n(w),
            n(h),
            esc(&sp.detail)
        );
        if sp.kind == SpanKind::Running && text_width(&sp.label, 11.0) + 8.0 < w {
            let _ = write!(
                s,
                "<text x=\"{}\" y=\"{}\" fill=\"#fff\" font-size=\"11\" pointer-events=\"none\">{}</text>",
                n(x0 + 4.0),
                n(bar_y + 14.0),
                esc(&sp.label)
            );
        }
    }
    svg_marks(s, frame, lane, bar_y);
    s.push_str("</g>\n");
}

/// A lane's marks, with labels moved to another row when they would overlap (and left out, the
/// mark and its hover text kept, when every row is taken there).
fn svg_marks(s: &mut String, frame: &Frame, lane: &Lane, bar_y: f64) {
    let x = |t| frame.x(t);
    let rows_y = [bar_y - 12.0, bar_y + BAR + 17.0, bar_y + BAR + 30.0];
    let mut rows: Vec<(f64, f64)> = vec![(f64::MIN, f64::MIN); rows_y.len()];
    for m in &lane.marks {
        let px = x(m.time_us);
        let (color, shape) = match m.kind {
            MarkKind::Signal => (
                "#cf222e",
                format!("M{},{} l5,-8 l-10,0 z", n(px), n(bar_y - 1.0)),
            ),
            MarkKind::Exit => (
                "#24292f",
                format!(
                    "M{},{} l4,4 l-4,4 l-4,-4 z",
                    n(px),
                    n(bar_y + BAR / 2.0 - 4.0)
                ),
            ),
            MarkKind::ProbeFailed | MarkKind::Failed => (
                "#bc4c00",
                format!("M{},{} l6,6 m0,-6 l-6,6", n(px - 3.0), n(bar_y + BAR + 2.0)),
            ),
            MarkKind::ProbeSucceeded => (
                "#0969da",
                format!("M{},{} l3,3 l5,-6", n(px - 3.0), n(bar_y + BAR + 5.0)),
            ),
            MarkKind::ProbeWarning | MarkKind::BackOff => (
                "#9a6700",
                format!("M{},{} l4,7 l-8,0 z", n(px), n(bar_y + BAR + 1.0)),
            ),
            MarkKind::Hook => (
                "#8250df",
                format!("M{},{} h6 v6 h-6 z", n(px - 3.0), n(bar_y - 8.0)),
            ),
            MarkKind::Other => (
                "#57606a",
                format!("M{},{} v{}", n(px), n(bar_y - 4.0), n(BAR + 8.0)),
            ),
        };
        let label_w = text_width(&m.label, 10.0);
        // Near the right edge the label ends at the mark instead of starting there.
        let (lx0, lx1, anchor) = if px + 2.0 + label_w > W - 4.0 {
            (px - 2.0 - label_w, px - 2.0, "end")
        } else {
            (px + 2.0, px + 2.0 + label_w, "start")
        };
        let row = rows
            .iter()
            .position(|&(a, b)| b == f64::MIN || lx0 > b + 4.0 || lx1 < a - 4.0);
        let text = match row {
            Some(r) => {
                let (a, b) = rows[r];
                rows[r] = if b == f64::MIN {
                    (lx0, lx1)
                } else {
                    (a.min(lx0), b.max(lx1))
                };
                format!(
                    "<text x=\"{}\" y=\"{}\" font-size=\"10\" text-anchor=\"{anchor}\" fill=\"{color}\">{}</text>",
                    n(if anchor == "end" { lx1 } else { lx0 }),
                    n(rows_y[r]),
                    esc(&m.label)
                )
            }
            None => String::new(),
        };
        let _ = write!(
            s,
            "<g class=\"mark {}\" data-container=\"{}\" data-attempt=\"{}\" data-time-us=\"{}\"><title>{}</title><path d=\"{shape}\" fill=\"{color}\" stroke=\"{color}\" stroke-width=\"1.5\"/>{text}</g>",
            m.kind.as_str(),
            esc(&lane.container),
            m.attempt.map(|a| a.to_string()).unwrap_or_default(),
            m.time_us,
            esc(&m.detail),
        );
    }
}

/// The colours of the spans and the shapes of the marks.
fn svg_legend(s: &mut String, frame: &Frame) {
    let ly = frame.axis_bottom + 34.0;
    let mut lx = LEFT;
    s.push_str("<g class=\"legend\" font-size=\"11\">");
    for (label, fill) in [
        ("waiting", "#d0d7de"),
        ("running", "#2da44e"),
        ("ready", "#0969da"),
        ("terminated (0)", "#8c959f"),
        ("terminated (error)", "#fa4549"),
    ] {
        let _ = write!(
            s,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"10\" fill=\"{fill}\"/><text x=\"{}\" y=\"{}\">{label}</text>",
            n(lx),
            n(ly),
            n(lx + 18.0),
            n(ly + 9.0)
        );
        lx += 36.0 + text_width(label, 11.0);
    }
    let _ = write!(
        s,
        "<text x=\"{}\" y=\"{}\" fill=\"#57606a\">▼ signal  ◆ exit  ✕ probe failed  ✓ probe ok  ■ hook</text>",
        n(lx),
        n(ly + 9.0)
    );
    s.push_str("</g>\n");
}
