//! Running the rules over manifests: validation errors of the core path (TND000), then every rule
//! on every Pod as written, located at `file:line:column`, filtered by `--disable` and the pod's
//! `tandem.dev/lint-disable` annotation.

use std::collections::HashMap;
use tandem_api::diag::bounded;

use k8s_openapi::api::core::v1::{Container, Pod};
use serde_json::{json, Value};
use tandem_api::{PlanOptions, Source};

use crate::rules::{self, KubeVersion, Rule, RuleId, Severity};
use crate::topology::{is_local, Topology, VolKind};
use crate::yamlout::{entry, to_yaml};
use tandem_api::plan::ContainerRole;

/// The pod annotation that turns rules off for one pod: `tandem.dev/lint-disable: TND003,TND007`.
pub const DISABLE_ANNOTATION: &str = "tandem.dev/lint-disable";

#[derive(Debug, Clone, Default)]
pub struct LintOptions {
    /// The cluster version the manifests are for (native sidecars need 1.29).
    pub kube_version: KubeVersion,
    /// Rules switched off everywhere (`--disable`).
    pub disabled: Vec<&'static Rule>,
    /// How the runtime reads an image reference: what is wrong with one it cannot read. The
    /// grammar is the image store's; without it TND017 checks nothing.
    pub image_reference: Option<fn(&str) -> Option<String>>,
}

/// The YAML that fixes a finding, and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fix {
    /// What to do with the YAML: `in spec.containers[1]:`, `move spec.containers[1] to
    /// spec.initContainers:`.
    pub action: String,
    pub yaml: String,
}

/// One problem, located.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static Rule,
    /// Usually the rule's; some rules vary it (TND010 is a warning on 1.28).
    pub severity: Severity,
    pub file: String,
    /// 1-based; 0 when the finding concerns the whole input.
    pub line: usize,
    pub column: usize,
    /// `Pod/web`; `""` when unknown (a YAML syntax error).
    pub object: String,
    /// Field path inside the object; `""` when not about one field.
    pub field: String,
    pub message: String,
    /// Advice in words, when a fix in YAML does not say it all.
    pub help: Option<String>,
    pub fix: Option<Fix>,
}

/// Checks `sources`: every diagnostic of [`tandem_api::load`] (errors stay errors), then the rules on
/// every Pod, ordered by file (as given), line, column and rule.
pub fn lint(sources: &[Source], opts: &LintOptions) -> Vec<Finding> {
    let (diags, services) = match tandem_api::load(sources, &PlanOptions::default()) {
        Ok(loaded) => (loaded.warnings, loaded.services),
        Err(d) => (d.0, Vec::new()),
    };
    let mut out: Vec<Finding> = diags
        .into_iter()
        .map(|d| Finding {
            rule: RuleId::InvalidManifest.rule(),
            severity: match d.severity {
                tandem_api::Severity::Error => Severity::Error,
                // What the API layer warns about concerns running on this machine (a field tandem
                // does not enforce yet), not the manifest's validity: a note.
                tandem_api::Severity::Warning => Severity::Note,
            },
            file: d.file,
            line: d.line,
            column: d.column,
            object: d.object,
            field: d.field,
            message: d.message,
            help: d.hint,
            fix: None,
        })
        .collect();

    let text: HashMap<&str, &str> = sources
        .iter()
        .map(|s| (s.name.as_str(), s.text.as_str()))
        .collect();
    let mut found = Vec::new();
    let written = tandem_api::written_pods(sources);
    for s in &services {
        for (id, path, message, help) in check_service(&s.object, &written) {
            if opts.disabled.contains(&id.rule()) {
                continue;
            }
            let (line, column) = text
                .get(s.file.as_str())
                .and_then(|t| tandem_api::locate(t, s.line, &path))
                .unwrap_or((s.line, 1));
            found.push(Finding {
                rule: id.rule(),
                severity: id.rule().severity,
                file: s.file.clone(),
                line,
                column,
                object: bounded(format!(
                    "Service/{}",
                    s.object.metadata.name.as_deref().unwrap_or_default()
                )),
                field: path,
                message: bounded(message),
                help: Some(help),
                fix: None,
            });
        }
    }
    for wp in written {
        let object = wp.label.clone();
        let at = |path: &str| {
            text.get(wp.file.as_str())
                .and_then(|t| tandem_api::locate(t, wp.line, path))
                .unwrap_or((wp.line, 1))
        };
        let mut raws = Vec::new();
        let pod_disabled = pod_disabled(&wp.object, &mut raws);
        check_pod(&wp.object, opts, &mut raws);
        for r in raws {
            if !r.rule.is(RuleId::InvalidManifest)
                && (opts.disabled.contains(&r.rule) || pod_disabled.contains(&r.rule))
            {
                continue;
            }
            let path = if r.path.is_empty() {
                wp.base.trim_end_matches('.').to_string()
            } else {
                format!("{}{}", wp.base, r.path)
            };
            let (line, column) = at(&path);
            found.push(Finding {
                rule: r.rule,
                severity: r.severity.unwrap_or(r.rule.severity),
                file: wp.file.clone(),
                line,
                column,
                object: bounded(object.clone()),
                field: bounded(path),
                message: bounded(r.message),
                help: r.help.map(bounded),
                fix: r.fix.map(|f| Fix {
                    action: rebase(&f.action, &wp.base),
                    ..f
                }),
            });
        }
    }
    // One mistake, one message: a rule finding replaces the API's warning at the same place.
    out.retain(|d| {
        d.severity == Severity::Error
            || !found
                .iter()
                .any(|f| f.file == d.file && f.line == d.line && f.column == d.column)
    });
    out.extend(found);
    let order: HashMap<&str, usize> = sources
        .iter()
        .enumerate()
        .rev()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    out.sort_by(|a, b| {
        let key = |f: &Finding| {
            (
                order.get(f.file.as_str()).copied().unwrap_or(usize::MAX),
                f.line,
                f.column,
                f.rule.id,
            )
        };
        key(a).cmp(&key(b))
    });
    out.dedup();
    out
}

/// TND015 and TND016 for one Service: (rule, field, message, help). The pods it selects are
/// the Pods and pod templates of the same manifests whose labels match its selector.
fn check_service(
    s: &k8s_openapi::api::core::v1::Service,
    written: &[tandem_api::WrittenPod],
) -> Vec<(RuleId, String, String, String)> {
    let mut out = Vec::new();
    let spec = s.spec.clone().unwrap_or_default();
    let Some(selector) = spec.selector.filter(|s| !s.is_empty()) else {
        return out;
    };
    if spec.type_.as_deref() == Some("ExternalName") {
        return out;
    }
    let name = s.metadata.name.as_deref().unwrap_or_default();
    let selected: Vec<&tandem_api::WrittenPod> = written
        .iter()
        .filter(|wp| {
            let labels = wp.object.metadata.labels.clone().unwrap_or_default();
            selector.iter().all(|(k, v)| labels.get(k) == Some(v))
        })
        .collect();
    let wanted = selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",");
    if selected.is_empty() {
        out.push((
            RuleId::ServiceSelectsNothing,
            "spec.selector".to_string(),
            format!("Service {name} selects {wanted}, but no Pod or pod template in these manifests has those labels"),
            "match the selector to the pods' labels (a workload's are in spec.template.metadata.labels); a Service without endpoints refuses every connection".to_string(),
        ));
        return out;
    }
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        let Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::String(target)) =
            &p.target_port
        else {
            continue;
        };
        let protocol = p.protocol.as_deref().unwrap_or("TCP");
        let mut known = Vec::new();
        let defined = selected.iter().any(|wp| {
            let spec = wp.object.spec.clone().unwrap_or_default();
            let sidecars = spec
                .init_containers
                .unwrap_or_default()
                .into_iter()
                .filter(|c| c.restart_policy.as_deref() == Some("Always"));
            spec.containers
                .into_iter()
                .chain(sidecars)
                .flat_map(|c| c.ports.unwrap_or_default())
                .any(|cp| {
                    if let Some(n) = &cp.name {
                        known.push(format!("{n}/{}", cp.container_port));
                    }
                    cp.name.as_deref() == Some(target.as_str())
                        && cp.protocol.as_deref().unwrap_or("TCP") == protocol
                })
        });
        if !defined {
            let pods: Vec<&str> = selected.iter().map(|wp| wp.label.as_str()).collect();
            let have = if known.is_empty() {
                "they name no port".to_string()
            } else {
                format!("their named ports: {}", known.join(", "))
            };
            out.push((
                RuleId::ServiceTargetPortUndefined,
                format!("spec.ports[{i}].targetPort"),
                format!(
                    "targetPort {target:?} ({protocol}) names no container port of {} ({have})",
                    pods.join(", ")
                ),
                format!("name the container's port (`ports: [{{name: {target}, containerPort: …}}]`) or give the port's number"),
            ));
        }
    }
    out
}

/// A finding before it is located.
struct Raw {
    rule: &'static Rule,
    severity: Option<Severity>,
    path: String,
    message: String,
    help: Option<String>,
    fix: Option<Fix>,
}

impl Raw {
    fn new(id: RuleId, path: impl Into<String>, message: impl Into<String>) -> Raw {
        Raw {
            rule: id.rule(),
            severity: None,
            path: path.into(),
            message: message.into(),
            help: None,
            fix: None,
        }
    }

    fn help(mut self, help: impl Into<String>) -> Raw {
        self.help = Some(help.into());
        self
    }

    fn fix(mut self, action: impl Into<String>, yaml: String) -> Raw {
        self.fix = Some(Fix {
            action: action.into(),
            yaml,
        });
        self
    }
}

/// A fix's action with every pod field path in it (`spec…`, `metadata…`) put under `base`, the
/// template's place in a workload (`spec.template.`): the rules write paths from the pod.
fn rebase(action: &str, base: &str) -> String {
    if base.is_empty() {
        return action.to_string();
    }
    action
        .split(' ')
        .map(|word| {
            if word.starts_with("spec") || word.starts_with("metadata") {
                format!("{base}{word}")
            } else {
                word.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// The rules the pod's annotation turns off; entries that name no rule are reported.
fn pod_disabled(pod: &Pod, raws: &mut Vec<Raw>) -> Vec<&'static Rule> {
    let Some(list) = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DISABLE_ANNOTATION))
    else {
        return Vec::new();
    };
    let path = format!("metadata.annotations[{DISABLE_ANNOTATION}]");
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match rules::find(item) {
            Some(r) if r.is(RuleId::InvalidManifest) => raws.push(
                Raw::new(
                    RuleId::InvalidManifest,
                    &path,
                    format!("{DISABLE_ANNOTATION}: {} (manifest validation) cannot be disabled", r.id),
                )
                .warning(),
            ),
            Some(r) => out.push(r),
            None => raws.push(
                Raw::new(
                    RuleId::InvalidManifest,
                    &path,
                    format!("{DISABLE_ANNOTATION} names no lint rule: {item:?}"),
                )
                .warning()
                .help("rules are named by id (TND003) or name (helper-stops-before-app); `tandem lint --list-rules` lists them"),
            ),
        }
    }
    out
}

impl Raw {
    fn warning(mut self) -> Raw {
        self.severity = Some(Severity::Warning);
        self
    }
}

fn check_pod(pod: &Pod, opts: &LintOptions, out: &mut Vec<Raw>) {
    let t = Topology::of(pod);
    let v = opts.kube_version;
    sidecar_as_regular_container(&t, v, out);
    sidecar_without_startup_probe(&t, out);
    helper_stops_before_app(&t, v, out);
    shared_volume_without_fsgroup(&t, pod, out);
    localhost_port_undeclared(&t, out);
    duplicate_container_port(&t, out);
    probe_port_undeclared(&t, out);
    missing_resources(&t, out);
    hostpath_instead_of_emptydir(&t, out);
    native_sidecar_unsupported(&t, v, out);
    sidecar_config_inline(&t, out);
    security_context(&t, pod, out);
    if let Some(check) = opts.image_reference {
        image_reference_invalid(&t, pod, check, out);
    }
}

// TND017
fn image_reference_invalid(
    t: &Topology,
    pod: &Pod,
    check: fn(&str) -> Option<String>,
    out: &mut Vec<Raw>,
) {
    const HELP: &str = "write it as [registry/]repository[:tag][@sha256:digest], e.g. docker.io/library/nginx:1.27";
    // (An empty reference, or one with spaces around it, is the API server's to refuse.)
    let problem = |r: &str| check(r).filter(|_| !r.is_empty() && r.trim() == r);
    for c in &t.containers {
        let Some(problem) = c.spec.image.as_deref().and_then(problem) else {
            continue;
        };
        out.push(
            Raw::new(
                RuleId::ImageReferenceInvalid,
                format!("{}.image", c.path),
                format!(
                    "container {} has an image reference that cannot be parsed ({problem}): it would wait with InvalidImageName and never start",
                    q(&c.name)
                ),
            )
            .help(HELP),
        );
    }
    let volumes = pod.spec.iter().flat_map(|s| s.volumes.iter().flatten());
    for (i, v) in volumes.enumerate() {
        let reference = v.image.as_ref().and_then(|im| im.reference.as_deref());
        let Some(problem) = reference.and_then(problem) else {
            continue;
        };
        out.push(
            Raw::new(
                RuleId::ImageReferenceInvalid,
                format!("spec.volumes[{i}].image.reference"),
                format!(
                    "image volume {} has a reference that cannot be parsed ({problem}): the pod would never start",
                    q(&v.name)
                ),
            )
            .help(HELP),
        );
    }
}

fn q(s: &str) -> String {
    format!("\"{s}\"")
}

fn to_value<T: serde::Serialize>(v: &T) -> Value {
    serde_json::to_value(v).unwrap_or(Value::Null)
}

/// The container's field as JSON, `{}` when absent.
fn field(c: &Container, name: &str) -> Value {
    to_value(c)
        .get(name)
        .cloned()
        .filter(|v| !v.is_null())
        .unwrap_or_else(|| json!({}))
}

fn startup_probe_for(port: u16) -> Value {
    json!({"tcpSocket": {"port": port}, "periodSeconds": 1, "failureThreshold": 30})
}

// TND001
fn sidecar_as_regular_container(t: &Topology, v: KubeVersion, out: &mut Vec<Raw>) {
    for (hi, h) in t.containers.iter().enumerate() {
        if h.role != ContainerRole::Main || Some(hi) == t.primary {
            continue;
        }
        let mut reasons = Vec::new();
        for l in t.clients_of(hi) {
            reasons.push(format!(
                "{} connects to it on localhost:{} ({})",
                q(&t.containers[l.from].name),
                l.port,
                l.evidence
            ));
        }
        for (oi, o) in t.containers.iter().enumerate() {
            if oi == hi || o.role != ContainerRole::Main {
                continue;
            }
            for (vol, mine, theirs) in t.shared_volumes(hi, oi) {
                if mine.read_only && !theirs.read_only {
                    reasons.push(format!(
                        "it reads volume {} that {} writes",
                        q(&vol.name),
                        q(&o.name)
                    ));
                } else if !mine.read_only && theirs.read_only {
                    reasons.push(format!(
                        "{} reads volume {} that it writes",
                        q(&o.name),
                        q(&vol.name)
                    ));
                }
            }
        }
        if reasons.is_empty() {
            continue;
        }
        let others = t
            .primary
            .filter(|&p| p != hi)
            .map_or_else(|| "the app".to_string(), |p| q(&t.containers[p].name));
        let mut raw = Raw::new(
            RuleId::SidecarAsRegularContainer,
            &h.path,
            format!(
                "container {} is a helper other containers depend on ({}), but it is a regular container: it may start after {others}",
                q(&h.name),
                reasons.join("; ")
            ),
        );
        if v < KubeVersion::new(1, 28) {
            raw = raw.help(format!(
                "native sidecars need Kubernetes 1.29 (1.28 with the SidecarContainers feature gate); on {v}, make {others} wait until {} is ready (retry on connect, or wait for a file)",
                q(&h.name)
            ));
        } else {
            let mut c = to_value(&h.spec);
            if let Value::Object(m) = &mut c {
                m.insert("restartPolicy".into(), json!("Always"));
                if let Some(l) = t.clients_of(hi).next() {
                    let protocol = listen_protocol(h, l.port);
                    if l.to.is_none() {
                        // It listens there without declaring it: declare it on the way.
                        m.insert("ports".into(), ports_with(&h.spec, l.port, protocol));
                    }
                    // A tcpSocket probe cannot tell whether a UDP port is served.
                    let tcp = protocol == "TCP"
                        && !h
                            .ports
                            .iter()
                            .any(|p| p.number == l.port && p.protocol != "TCP");
                    if h.spec.startup_probe.is_none() && tcp {
                        m.insert("startupProbe".into(), startup_probe_for(l.port));
                    }
                }
            }
            let fix = entry("initContainers", &json!([c]), 0);
            raw = raw.fix(format!("move {} to spec.initContainers:", h.path), fix);
            if v < KubeVersion::new(1, 29) {
                raw = raw.help(format!(
                    "on {v} native sidecars need the SidecarContainers feature gate"
                ));
            }
        }
        out.push(raw);
    }
}

// TND002
fn sidecar_without_startup_probe(t: &Topology, out: &mut Vec<Raw>) {
    for (si, s) in t.containers.iter().enumerate() {
        if s.role != ContainerRole::Sidecar || s.spec.startup_probe.is_some() {
            continue;
        }
        let mut serves: Vec<String> = Vec::new();
        let mut port = None;
        let tcp = |n: u16| {
            listen_protocol(s, n) == "TCP"
                && !s.ports.iter().any(|p| p.number == n && p.protocol != "TCP")
        };
        for l in t.clients_of(si) {
            serves.push(format!(
                "localhost:{} to {}",
                l.port,
                q(&t.containers[l.from].name)
            ));
            if tcp(l.port) {
                port.get_or_insert(l.port);
            }
        }
        for p in &s.ports {
            if !t.clients_of(si).any(|l| l.port == p.number) {
                serves.push(format!("port {}", p.number));
            }
            if tcp(p.number) {
                port.get_or_insert(p.number);
            }
        }
        if serves.is_empty() {
            continue;
        }
        let raw = Raw::new(
            RuleId::SidecarWithoutStartupProbe,
            &s.path,
            format!(
                "native sidecar {} serves {} but has no startupProbe: the containers after it start when its process has started, not when it listens",
                q(&s.name),
                serves.join(", ")
            ),
        );
        out.push(match port {
            Some(port) => raw.fix(
                format!("in {}:", s.path),
                entry("startupProbe", &startup_probe_for(port), 0),
            ),
            None => raw.help(
                "a tcpSocket probe cannot check a UDP port: give it an exec startupProbe that succeeds once it serves",
            ),
        });
    }
}

// TND003
fn helper_stops_before_app(t: &Topology, v: KubeVersion, out: &mut Vec<Raw>) {
    let Some(pi) = t.primary else { return };
    let app = &t.containers[pi];
    if !(app.pre_stop || t.grace_seconds >= 10) {
        return;
    }
    for (hi, h) in t.containers.iter().enumerate() {
        if h.role != ContainerRole::Main
            || hi == pi
            || h.pre_stop
            || !t.related(hi, pi)
            || one_shot(&h.spec)
        {
            continue;
        }
        let secs = if t.grace_seconds > 10 {
            t.grace_seconds - 5
        } else {
            (t.grace_seconds / 2).max(1)
        };
        let pre_stop = if v >= KubeVersion::new(1, 30) {
            json!({"sleep": {"seconds": secs}})
        } else {
            json!({"exec": {"command": ["sleep", secs.to_string()]}})
        };
        let mut lifecycle = field(&h.spec, "lifecycle");
        if let Value::Object(m) = &mut lifecycle {
            m.insert("preStop".into(), pre_stop);
        }
        let drain = if t.grace_given {
            format!("up to {}s", t.grace_seconds)
        } else {
            format!("up to {}s, the default grace period", t.grace_seconds)
        };
        out.push(
            Raw::new(
                RuleId::HelperStopsBeforeApp,
                &h.path,
                format!(
                    "container {} gets SIGTERM at the same time as {} and has no preStop hook: it may exit while {} is still draining ({drain})",
                    q(&h.name),
                    q(&app.name),
                    q(&app.name)
                ),
            )
            .help(format!(
                "make {} a native sidecar (stopped only after the containers have exited), or keep it up with a preStop hook",
                q(&h.name)
            ))
            .fix(format!("in {}:", h.path), entry("lifecycle", &lifecycle, 0)),
        );
    }
}

/// Whether a container's command visibly does its work and exits (`echo`, `cp`, a shell line
/// without a loop, a wait or a long-running program): it is gone long before any SIGTERM, so a
/// preStop hook would keep nothing up. A container that runs its image's command may serve, and
/// is not one.
fn one_shot(c: &k8s_openapi::api::core::v1::Container) -> bool {
    const SHELLS: &[&str] = &["sh", "bash", "ash", "dash", "zsh"];
    const ONE_SHOT: &[&str] = &[
        "echo", "printf", "true", "false", "cp", "mv", "ln", "rm", "touch", "mkdir", "chmod",
        "chown", "date", "env", "id", "ls",
    ];
    // Anything that loops, waits, stays in the background or follows a stream.
    const LASTING: &[&str] = &[
        "while", "until", "for", "sleep", "wait", "tail", "read", "exec", "nc", "httpd", "trap",
        "yes", "watch", "socat",
    ];
    let argv: Vec<&str> = c
        .command
        .iter()
        .flatten()
        .chain(c.args.iter().flatten())
        .map(String::as_str)
        .collect();
    let Some(program) = argv.first().and_then(|p| p.rsplit('/').next()) else {
        return false;
    };
    if SHELLS.contains(&program) {
        let Some(script) = argv
            .iter()
            .position(|a| *a == "-c")
            .and_then(|i| argv.get(i + 1))
        else {
            return false;
        };
        let words =
            script.split(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '&' || ch == '_'));
        return !words
            .into_iter()
            .any(|w| LASTING.contains(&w) || (w.contains('&') && w != "&&"));
    }
    ONE_SHOT.contains(&program)
}

fn user_label(user: Option<i64>) -> String {
    match user {
        Some(u) => format!("as uid {u}"),
        None => "as the image's user".into(),
    }
}

// TND004
fn shared_volume_without_fsgroup(t: &Topology, pod: &Pod, out: &mut Vec<Raw>) {
    if t.fs_group.is_some() {
        return;
    }
    for vol in &t.volumes {
        if !matches!(vol.kind, VolKind::EmptyDir { .. }) {
            continue;
        }
        let mut users: Vec<(usize, Option<i64>, bool)> = Vec::new();
        for m in &vol.mounts {
            if !users.iter().any(|(c, _, _)| *c == m.container) {
                users.push((m.container, t.containers[m.container].user, !m.read_only));
            }
        }
        let writers = users.iter().filter(|(_, _, rw)| *rw).count();
        let mut distinct: Vec<Option<i64>> = users.iter().map(|(_, u, _)| *u).collect();
        distinct.sort();
        distinct.dedup();
        if users.len() < 2 || writers == 0 || distinct.len() < 2 {
            continue;
        }
        let who: Vec<String> = users
            .iter()
            .map(|(c, u, rw)| {
                format!(
                    "{} ({}, {})",
                    q(&t.containers[*c].name),
                    user_label(*u),
                    if *rw { "read-write" } else { "read-only" }
                )
            })
            .collect();
        let gid = users
            .iter()
            .filter(|(_, _, rw)| *rw)
            .find_map(|(c, u, _)| t.containers[*c].group.or(*u))
            .filter(|g| *g > 0)
            .unwrap_or(1000);
        let mut sc = to_value(
            &pod.spec
                .as_ref()
                .and_then(|s| s.security_context.clone())
                .unwrap_or_default(),
        );
        if let Value::Object(m) = &mut sc {
            m.insert("fsGroup".into(), json!(gid));
        }
        out.push(
            Raw::new(
                RuleId::SharedVolumeWithoutFsgroup,
                &vol.path,
                format!(
                    "emptyDir {} is shared by {} without a pod fsGroup: files one of them creates may not be readable or writable by the other",
                    q(&vol.name),
                    who.join(" and ")
                ),
            )
            .fix("in spec:", entry("securityContext", &sc, 0)),
        );
    }
}

fn ports_with(c: &Container, port: u16, protocol: &str) -> Value {
    let mut ports = match field(c, "ports") {
        Value::Array(a) => a,
        _ => Vec::new(),
    };
    if protocol == "TCP" {
        ports.push(json!({"containerPort": port}));
    } else {
        ports.push(json!({"containerPort": port, "protocol": protocol}));
    }
    Value::Array(ports)
}

/// The protocol `c` appears to listen on `port` with, when it does so without declaring it.
fn listen_protocol(c: &crate::topology::Ctr, port: u16) -> &'static str {
    c.listens
        .iter()
        .find(|l| l.port == port)
        .map_or("TCP", |l| l.protocol)
}

// TND005
fn localhost_port_undeclared(t: &Topology, out: &mut Vec<Raw>) {
    // On the host's network, localhost:PORT is a port of the node, which no container declares.
    if t.host_network {
        return;
    }
    for l in &t.links {
        if l.to.is_some() {
            continue;
        }
        let from = &t.containers[l.from];
        let mut msg = format!(
            "{} connects to localhost:{} ({}), but no container of the pod declares containerPort {}",
            q(&from.name),
            l.port,
            l.evidence,
            l.port
        );
        let raw = match l.listener {
            Some(li) => {
                let lc = &t.containers[li];
                let ev = lc
                    .listens
                    .iter()
                    .find(|x| x.port == l.port)
                    .map(|x| x.evidence.clone())
                    .unwrap_or_default();
                msg.push_str(&format!("; {} appears to listen on it ({ev})", q(&lc.name)));
                Raw::new(RuleId::LocalhostPortUndeclared, &l.path, msg).fix(
                    format!("in {}:", lc.path),
                    entry(
                        "ports",
                        &ports_with(&lc.spec, l.port, listen_protocol(lc, l.port)),
                        0,
                    ),
                )
            }
            None => Raw::new(RuleId::LocalhostPortUndeclared, &l.path, msg).help(format!(
                "declare `ports: [{{containerPort: {}}}]` on the container that listens there, or check the port: nothing in this pod appears to serve it",
                l.port
            )),
        };
        out.push(raw);
    }
}

// TND006
fn duplicate_container_port(t: &Topology, out: &mut Vec<Raw>) {
    let mut seen: HashMap<(u16, String), usize> = HashMap::new();
    for (ci, c) in t.containers.iter().enumerate() {
        if c.role == ContainerRole::Init {
            continue;
        }
        for p in &c.ports {
            let key = (p.number, p.protocol.clone());
            match seen.get(&key) {
                Some(&first) if first != ci => out.push(
                    Raw::new(
                        RuleId::DuplicateContainerPort,
                        format!("{}.containerPort", p.path),
                        format!(
                            "containerPort {}/{} is declared by both {} and {}: they share one network namespace, so only one of them can listen on it",
                            p.number,
                            p.protocol,
                            q(&t.containers[first].name),
                            q(&c.name)
                        ),
                    )
                    .help("remove the declaration from the container that does not listen there, or move one of them to another port"),
                ),
                Some(_) => {}
                None => {
                    seen.insert(key, ci);
                }
            }
        }
    }
}

// TND007
fn probe_port_undeclared(t: &Topology, out: &mut Vec<Raw>) {
    for (ci, c) in t.containers.iter().enumerate() {
        for p in &c.probes {
            let Some(port) = p.port else { continue };
            if p.port_name.is_some()
                || c.ports.iter().any(|x| x.number == port)
                || p.host.as_deref().is_some_and(|h| !is_local(h))
            {
                continue;
            }
            // A port another container of the pod serves is fine: that container answers for
            // this one (Istio's agent serves the app's probes on 15020/15021 so).
            if t.containers
                .iter()
                .enumerate()
                .any(|(oi, o)| oi != ci && o.ports.iter().any(|x| x.number == port))
            {
                continue;
            }
            let raw = Raw::new(
                RuleId::ProbePortUndeclared,
                &p.path,
                format!(
                    "the {} probe of {} checks port {port}, which {} does not declare",
                    p.kind,
                    q(&c.name),
                    q(&c.name)
                ),
            )
            .fix(
                format!("in {}:", c.path),
                entry("ports", &ports_with(&c.spec, port, "TCP"), 0),
            );
            out.push(raw);
        }
    }
}

// TND008
fn missing_resources(t: &Topology, out: &mut Vec<Raw>) {
    // Pod-level resources bound every container together (KEP-2837).
    if t.pod_resources {
        return;
    }
    for (ci, c) in t.containers.iter().enumerate() {
        let res = c.spec.resources.clone().unwrap_or_default();
        let has = |list: &Option<std::collections::BTreeMap<String, _>>, k: &str| {
            list.as_ref().is_some_and(|m| m.contains_key(k))
        };
        let helper = Some(ci) != t.primary;
        let (cpu, mem) = if helper {
            ("50m", "64Mi")
        } else {
            ("100m", "128Mi")
        };
        let mut missing = Vec::new();
        let mut value = to_value(&res);
        if !value.is_object() {
            value = json!({});
        }
        for (list, key, default) in [
            ("requests", "cpu", cpu),
            ("requests", "memory", mem),
            ("limits", "memory", mem),
        ] {
            let present = match list {
                "requests" => has(&res.requests, key),
                _ => has(&res.limits, key),
            };
            if !present {
                missing.push(format!("{list}.{key}"));
                if let Value::Object(m) = &mut value {
                    let l = m.entry(list).or_insert_with(|| json!({}));
                    if let Value::Object(l) = l {
                        l.insert(key.into(), json!(default));
                    }
                }
            }
        }
        if missing.is_empty() {
            continue;
        }
        let what = if missing.len() == 3 && res.requests.is_none() && res.limits.is_none() {
            "no resource requests or limits".to_string()
        } else {
            format!("no {}", missing.join(", "))
        };
        out.push(
            Raw::new(
                RuleId::MissingResources,
                format!("{}.resources", c.path),
                format!("container {} has {what}", q(&c.name)),
            )
            .help("the values are a starting point: measure the container and adjust them")
            .fix(format!("in {}:", c.path), entry("resources", &value, 0)),
        );
    }
}

/// hostPaths that reach into the node on purpose: an emptyDir cannot stand in for them.
fn host_integration(path: &str) -> bool {
    const EXACT: [&str; 4] = ["/", "/var/log", "/var/log/pods", "/var/log/containers"];
    const PREFIXES: [&str; 13] = [
        "/proc",
        "/sys",
        "/dev",
        "/run",
        "/var/run",
        "/etc",
        "/lib/modules",
        "/usr",
        "/boot",
        "/var/lib/docker",
        "/var/lib/containerd",
        "/var/lib/kubelet",
        "/var/lib/containers",
    ];
    let p = path.trim_end_matches('/');
    let p = if p.is_empty() { "/" } else { p };
    EXACT.contains(&p)
        || p.ends_with(".sock")
        || PREFIXES
            .iter()
            .any(|x| p == *x || p.starts_with(&format!("{x}/")))
}

/// Whether an emptyDir could stand for this hostPath: the pod writes it (a hostPath every
/// container only reads holds what the node has: certificates, configuration, data), and it is
/// scratch space (`/tmp`) or a directory the pod's containers share among themselves. A hostPath
/// one container writes alone most likely keeps data past the pod, which an emptyDir would lose.
fn empty_dir_keeps_the_meaning(vol: &crate::topology::Vol, path: &str) -> bool {
    if vol.mounts.iter().all(|m| m.read_only) {
        return false;
    }
    let p = path.trim_end_matches('/');
    let scratch = ["/tmp", "/var/tmp"]
        .iter()
        .any(|x| p == *x || p.starts_with(&format!("{x}/")));
    let mut containers: Vec<usize> = vol.mounts.iter().map(|m| m.container).collect();
    containers.sort_unstable();
    containers.dedup();
    scratch || containers.len() >= 2
}

// TND009
fn hostpath_instead_of_emptydir(t: &Topology, out: &mut Vec<Raw>) {
    for vol in &t.volumes {
        let VolKind::HostPath(path) = &vol.kind else {
            continue;
        };
        if host_integration(path) || !empty_dir_keeps_the_meaning(vol, path) {
            continue;
        }
        let users: Vec<String> = vol
            .mounts
            .iter()
            .map(|m| q(&t.containers[m.container].name))
            .collect();
        let how = match users.len() {
            0 => String::new(),
            1 => format!(", used by {}", users[0]),
            _ => format!(", shared by {}", users.join(" and ")),
        };
        out.push(
            Raw::new(
                RuleId::HostpathInsteadOfEmptydir,
                format!("{}.hostPath.path", vol.path),
                format!(
                    "volume {} is a hostPath ({path}){how}: an emptyDir keeps the data with the pod and off the node",
                    q(&vol.name)
                ),
            )
            .fix(
                format!("replace {}:", vol.path),
                to_yaml(&json!([{"name": vol.name, "emptyDir": {}}]), 0),
            ),
        );
    }
}

// TND010
fn native_sidecar_unsupported(t: &Topology, v: KubeVersion, out: &mut Vec<Raw>) {
    if v >= KubeVersion::new(1, 29) {
        return;
    }
    for s in t
        .containers
        .iter()
        .filter(|c| c.role == ContainerRole::Sidecar)
    {
        let path = format!("{}.restartPolicy", s.path);
        if v == KubeVersion::new(1, 28) {
            let mut raw = Raw::new(
                RuleId::NativeSidecarUnsupported,
                path,
                format!(
                    "native sidecar {} needs the SidecarContainers feature gate on Kubernetes 1.28 (alpha, off by default)",
                    q(&s.name)
                ),
            )
            .help("enable SidecarContainers on the API server and every kubelet, or target 1.29 or later (--kube-version)");
            raw.severity = Some(Severity::Warning);
            out.push(raw);
        } else {
            let mut c = to_value(&s.spec);
            if let Value::Object(m) = &mut c {
                m.remove("restartPolicy");
                m.remove("startupProbe");
            }
            out.push(
                Raw::new(
                    RuleId::NativeSidecarUnsupported,
                    path,
                    format!(
                        "native sidecar {} is not supported on Kubernetes {v}: restartPolicy on init containers arrived in 1.28 (behind a feature gate) and is on by default from 1.29",
                        q(&s.name)
                    ),
                )
                .help("without it the API server drops the field and the sidecar blocks the pod as an init container that never exits; run it as a regular container, and make the app wait for it")
                .fix(
                    format!("move {} to spec.containers:", s.path),
                    entry("containers", &json!([c]), 0),
                ),
            );
        }
    }
}

const CONFIG_EXTENSIONS: [&str; 11] = [
    ".conf",
    ".cfg",
    ".ini",
    ".yaml",
    ".yml",
    ".json",
    ".toml",
    ".properties",
    ".xml",
    ".hcl",
    ".lua",
];

fn config_file(word: &str) -> Option<&str> {
    let w = word.trim_matches(|c| c == '"' || c == '\'' || c == ';');
    (w.starts_with('/') && CONFIG_EXTENSIONS.iter().any(|e| w.ends_with(e))).then_some(w)
}

/// A config file a script writes (`cat > /etc/x.conf <<EOF`, `echo ... > /etc/x.yaml`), with the
/// here-document body when there is one.
fn written_config(script: &str) -> Option<(String, Option<String>)> {
    let lines: Vec<&str> = script.lines().collect();
    for (i, line) in lines.iter().enumerate() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let mut target = None;
        for (j, w) in words.iter().enumerate() {
            let path = if *w == ">" || *w == ">>" {
                words.get(j + 1).copied()
            } else if *w == "tee" {
                words[j + 1..].iter().copied().find(|x| !x.starts_with('-'))
            } else {
                w.strip_prefix(">>").or_else(|| w.strip_prefix('>'))
            };
            if let Some(p) = path.and_then(config_file) {
                target = Some(p.to_string());
                break;
            }
        }
        let Some(target) = target else { continue };
        let marker = words.iter().find_map(|w| {
            let m = w.strip_prefix("<<")?.trim_start_matches('-');
            let m = m.trim_matches(|c| c == '\'' || c == '"');
            (!m.is_empty()).then(|| m.to_string())
        });
        let body = marker.and_then(|m| {
            let end = lines[i + 1..].iter().position(|l| l.trim() == m)?;
            let body: Vec<&str> = lines[i + 1..i + 1 + end].to_vec();
            Some(body.join("\n") + "\n")
        });
        return Some((target, body));
    }
    None
}

// TND011
fn sidecar_config_inline(t: &Topology, out: &mut Vec<Raw>) {
    for (ci, c) in t.containers.iter().enumerate() {
        let helper = c.role == ContainerRole::Sidecar
            || (c.role == ContainerRole::Main && Some(ci) != t.primary);
        if !helper {
            continue;
        }
        let cm = format!("{}-{}-config", t.name, c.name);
        let mut done = false;
        for (i, e) in c.spec.env.iter().flatten().enumerate() {
            let Some(value) = e.value.as_deref() else {
                continue;
            };
            let upper = e.name.to_ascii_uppercase();
            let structured = value.trim_start().starts_with(['{', '[']) && value.len() > 40;
            if !(value.contains('\n') || structured || (upper.contains("CONF") && value.len() > 80))
            {
                continue;
            }
            let configmap = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": cm},
                "data": {e.name.clone(): value},
            });
            let env = json!([{"name": e.name, "valueFrom": {"configMapKeyRef": {"name": cm, "key": e.name}}}]);
            out.push(
                Raw::new(
                    RuleId::SidecarConfigInline,
                    format!("{}.env[{i}].value", c.path),
                    format!(
                        "the configuration of helper {} is inlined in env {}: a ConfigMap keeps it independent of the pod spec",
                        q(&c.name),
                        e.name
                    ),
                )
                .fix(
                    format!("add this ConfigMap, and in {}.env[{i}] take the value from it:", c.path),
                    format!("{}---\n{}", to_yaml(&configmap, 0), to_yaml(&env, 0)),
                ),
            );
            done = true;
            break;
        }
        if done {
            continue;
        }
        for (field, list) in [("command", &c.spec.command), ("args", &c.spec.args)] {
            let Some((i, (file, body))) = list
                .iter()
                .flatten()
                .enumerate()
                .find_map(|(i, a)| written_config(a).map(|w| (i, w)))
            else {
                continue;
            };
            let (dir, name) = file.rsplit_once('/').unwrap_or(("", file.as_str()));
            let dir = if dir.is_empty() { "/" } else { dir };
            let content = body.unwrap_or_else(|| "# the configuration the script writes\n".into());
            let configmap = json!({
                "apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": cm},
                "data": {name: content},
            });
            let vol = format!("{}-config", c.name);
            let fix = format!(
                "{}---\n# in {}, instead of writing the file:\n{}# in spec:\n{}",
                to_yaml(&configmap, 0),
                c.path,
                entry(
                    "volumeMounts",
                    &json!([{"name": vol, "mountPath": dir, "readOnly": true}]),
                    0
                ),
                entry(
                    "volumes",
                    &json!([{"name": vol, "configMap": {"name": cm}}]),
                    0
                ),
            );
            out.push(
                Raw::new(
                    RuleId::SidecarConfigInline,
                    format!("{}.{field}[{i}]", c.path),
                    format!(
                        "helper {} writes its configuration file {file} from its {field}: a ConfigMap keeps it independent of the pod spec",
                        q(&c.name)
                    ),
                )
                .fix("add this ConfigMap and mount it:", fix),
            );
            break;
        }
    }
}

// TND012, TND013, TND014
fn security_context(t: &Topology, pod: &Pod, out: &mut Vec<Raw>) {
    let pod_sc = pod
        .spec
        .as_ref()
        .and_then(|s| s.security_context.clone())
        .unwrap_or_default();
    for c in &t.containers {
        let sc = c.spec.security_context.clone().unwrap_or_default();
        let base = field(&c.spec, "securityContext");
        let with = |pairs: &[(&str, Value)]| {
            let mut v = base.clone();
            if let Value::Object(m) = &mut v {
                for (k, x) in pairs {
                    m.insert((*k).to_string(), x.clone());
                }
            }
            entry("securityContext", &v, 0)
        };
        let sc_path = format!("{}.securityContext", c.path);
        let non_root = sc.run_as_non_root.or(pod_sc.run_as_non_root) == Some(true);
        let user = sc.run_as_user.or(pod_sc.run_as_user);
        if !non_root && user.is_none_or(|u| u <= 0) {
            let (path, msg) = match user {
                Some(0) => (
                    format!("{sc_path}.runAsUser"),
                    format!("container {} runs as root (runAsUser: 0)", q(&c.name)),
                ),
                _ => (
                    format!("{sc_path}.runAsNonRoot"),
                    format!(
                        "container {} may run as root: neither runAsNonRoot: true nor a non-zero runAsUser is set",
                        q(&c.name)
                    ),
                ),
            };
            out.push(Raw::new(RuleId::RunAsNonRootMissing, path, msg).fix(
                format!("in {}:", c.path),
                with(&[("runAsNonRoot", json!(true)), ("runAsUser", json!(1000))]),
            ));
        }
        if sc.read_only_root_filesystem != Some(true) {
            out.push(
                Raw::new(
                    RuleId::ReadOnlyRootFsMissing,
                    format!("{sc_path}.readOnlyRootFilesystem"),
                    format!("container {} has a writable root filesystem", q(&c.name)),
                )
                .help("mount an emptyDir where the container must write (/tmp, caches)")
                .fix(
                    format!("in {}:", c.path),
                    with(&[("readOnlyRootFilesystem", json!(true))]),
                ),
            );
        }
        if sc.allow_privilege_escalation != Some(false) && sc.privileged != Some(true) {
            out.push(
                Raw::new(
                    RuleId::PrivilegeEscalationAllowed,
                    format!("{sc_path}.allowPrivilegeEscalation"),
                    format!(
                        "container {} does not set allowPrivilegeEscalation: false",
                        q(&c.name)
                    ),
                )
                .fix(
                    format!("in {}:", c.path),
                    with(&[("allowPrivilegeEscalation", json!(false))]),
                ),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_written_by_scripts() {
        let s = "set -e\ncat > /fluent-bit/etc/fluent-bit.conf <<'EOF'\n[INPUT]\n    Name tail\nEOF\nexec fluent-bit";
        assert_eq!(
            written_config(s),
            Some((
                "/fluent-bit/etc/fluent-bit.conf".into(),
                Some("[INPUT]\n    Name tail\n".into())
            ))
        );
        assert_eq!(
            written_config("echo x >/etc/app.yaml"),
            Some(("/etc/app.yaml".into(), None))
        );
        assert_eq!(written_config("echo x >> /var/log/app.log"), None);
    }

    #[test]
    fn udp_helpers_get_a_udp_port_and_no_tcp_startup_probe() {
        let yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\nspec:\n  containers:\n    - name: app\n      image: app\n      env:\n        - {name: STATSD_HOST, value: localhost}\n        - {name: STATSD_PORT, value: \"8125\"}\n    - name: statsd\n      image: statsd\n      args: [\"--statsd.listen-udp=:8125\"]\n";
        let findings = lint(&[Source::new("p.yaml", yaml)], &LintOptions::default());
        let f = findings
            .iter()
            .find(|f| f.rule.id == "TND001")
            .expect("TND001");
        let fix = &f.fix.as_ref().expect("fix").yaml;
        assert!(
            fix.contains("- containerPort: 8125\n        protocol: UDP\n"),
            "{fix}"
        );
        assert!(!fix.contains("startupProbe"), "{fix}");
    }

    #[test]
    fn host_integration_paths_are_left_alone() {
        assert!(host_integration("/var/run/docker.sock"));
        assert!(host_integration("/proc"));
        assert!(host_integration("/var/log"));
        assert!(!host_integration("/var/log/app"));
        assert!(!host_integration("/tmp/shared"));
        assert!(!host_integration("/data"));
    }
}
