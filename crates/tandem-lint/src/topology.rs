//! What a Pod's containers are to each other, read from its spec: roles, declared ports, what they
//! appear to listen on, shared volumes with who mounts them how and as which user, localhost
//! connections inferred from env, command, args and probes, and endpoints outside the pod.
//!
//! Inference is heuristic by nature and errs on the quiet side: a connection is recorded only when
//! the text says `localhost`/`127.0.0.1` (or a `*_HOST`/`*_PORT` pair does), never from a bare
//! number.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Container, Pod, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use tandem_api::plan::ContainerRole;

/// `kubectl`'s annotation naming the container commands default to; tandem reads it to find the app.
pub const DEFAULT_CONTAINER_ANNOTATION: &str = "kubectl.kubernetes.io/default-container";

#[derive(Debug, Clone)]
pub struct Topology {
    pub name: String,
    pub namespace: String,
    /// Init containers (and native sidecars) in order, then the containers.
    pub containers: Vec<Ctr>,
    pub volumes: Vec<Vol>,
    pub links: Vec<Link>,
    pub externals: Vec<External>,
    /// The app: the container named by [`DEFAULT_CONTAINER_ANNOTATION`], else the first of
    /// `spec.containers`.
    pub primary: Option<usize>,
    pub fs_group: Option<i64>,
    /// `terminationGracePeriodSeconds`, 30 when not given.
    pub grace_seconds: i64,
    /// Whether the pod set `terminationGracePeriodSeconds` itself.
    pub grace_given: bool,
    /// `hostNetwork: true`: localhost is the node's, not the pod's.
    pub host_network: bool,
    /// Pod-level `spec.resources` requests or limits cpu or memory: the containers share them.
    pub pod_resources: bool,
}

#[derive(Debug, Clone)]
pub struct Ctr {
    pub name: String,
    pub role: ContainerRole,
    /// `spec.containers[1]`.
    pub path: String,
    pub image: String,
    pub ports: Vec<Port>,
    /// Ports the container appears to listen on without declaring them (`--port=5432`).
    pub listens: Vec<Listen>,
    /// Effective `runAsUser` (container, else pod); `None`: the image's user.
    pub user: Option<i64>,
    pub group: Option<i64>,
    pub probes: Vec<ProbeTarget>,
    pub pre_stop: bool,
    /// The container as written.
    pub spec: Container,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub number: u16,
    pub name: Option<String>,
    pub protocol: String,
    /// `spec.containers[1].ports[0]`.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listen {
    pub port: u16,
    /// `UDP` when the flag says so (`--statsd.listen-udp`), else `TCP`.
    pub protocol: &'static str,
    /// The text it was read from, e.g. `--port=5432`.
    pub evidence: String,
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProbeTarget {
    /// `startup`, `liveness`, `readiness`.
    pub kind: &'static str,
    /// `httpGet`, `tcpSocket`, `grpc`.
    pub handler: &'static str,
    /// The port number; `None` when a named port does not resolve.
    pub port: Option<u16>,
    /// The port as written when it is a name.
    pub port_name: Option<String>,
    pub host: Option<String>,
    /// Path of the `port` field.
    pub path: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VolKind {
    EmptyDir { memory: bool },
    HostPath(String),
    ConfigMap(String),
    Secret(String),
    Other(&'static str),
}

impl VolKind {
    pub fn label(&self) -> String {
        match self {
            VolKind::EmptyDir { memory: false } => "emptyDir".into(),
            VolKind::EmptyDir { memory: true } => "emptyDir (Memory)".into(),
            VolKind::HostPath(p) => format!("hostPath {p}"),
            VolKind::ConfigMap(n) => format!("configMap {n}"),
            VolKind::Secret(n) => format!("secret {n}"),
            VolKind::Other(k) => (*k).to_string(),
        }
    }

    /// Volumes containers can write to and so share data through.
    /// Whether a container that mounts it without `readOnly` may write it: every kind but the
    /// files made from API objects (configMap, secret, downwardAPI, projected) and image
    /// volumes, which the kubelet always mounts read-only. A claim, a disk or a share is as
    /// writable as its mount.
    pub fn writable(&self) -> bool {
        !matches!(
            self,
            VolKind::ConfigMap(_)
                | VolKind::Secret(_)
                | VolKind::Other("projected" | "downwardAPI" | "image")
        )
    }
}

#[derive(Debug, Clone)]
pub struct Vol {
    pub name: String,
    pub kind: VolKind,
    /// `spec.volumes[0]`.
    pub path: String,
    pub mounts: Vec<Mount>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Index into [`Topology::containers`].
    pub container: usize,
    pub read_only: bool,
    pub mount_path: String,
    /// `spec.containers[0].volumeMounts[1]`.
    pub path: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// A `*_HOST` variable with a local value and its `*_PORT` sibling.
    EnvPair,
    /// A URL or `host:port` in an env value.
    Env,
    /// A URL or `host:port` in command or args.
    Args,
    /// A probe of the container.
    Probe,
}

/// One container reaching a port of the pod over localhost.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: usize,
    pub port: u16,
    /// Another container that declares the port.
    pub to: Option<usize>,
    /// Another container that appears to listen on it without declaring it.
    pub listener: Option<usize>,
    pub via: Via,
    /// The text it was read from: `DB_HOST=localhost, DB_PORT=5432`.
    pub evidence: String,
    /// Where to point: the field holding the port.
    pub path: String,
}

/// Something outside the pod a container talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct External {
    pub from: usize,
    /// `db.example.com:5432`, `https://api.example.com`.
    pub target: String,
    pub path: String,
}

impl Topology {
    pub fn of(pod: &Pod) -> Topology {
        let spec = pod.spec.clone().unwrap_or_default();
        let pod_sc = spec.security_context.clone().unwrap_or_default();
        let mut containers = Vec::new();
        for (i, c) in spec.init_containers.iter().flatten().enumerate() {
            let role = ContainerRole::of(true, c.restart_policy.as_deref());
            containers.push(ctr(c, role, format!("spec.initContainers[{i}]"), &pod_sc));
        }
        for (i, c) in spec.containers.iter().enumerate() {
            containers.push(ctr(
                c,
                ContainerRole::Main,
                format!("spec.containers[{i}]"),
                &pod_sc,
            ));
        }
        let annotated = pod
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(DEFAULT_CONTAINER_ANNOTATION));
        let primary = annotated
            .and_then(|n| {
                containers
                    .iter()
                    .position(|c| c.role == ContainerRole::Main && &c.name == n)
            })
            .or_else(|| {
                containers
                    .iter()
                    .position(|c| c.role == ContainerRole::Main)
            });

        let mut volumes: Vec<Vol> = spec
            .volumes
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, v)| Vol {
                name: v.name.clone(),
                kind: vol_kind(v),
                path: format!("spec.volumes[{i}]"),
                mounts: Vec::new(),
            })
            .collect();
        for (ci, c) in containers.iter().enumerate() {
            for (mi, m) in c.spec.volume_mounts.iter().flatten().enumerate() {
                if let Some(v) = volumes.iter_mut().find(|v| v.name == m.name) {
                    v.mounts.push(Mount {
                        container: ci,
                        read_only: m.read_only.unwrap_or(false),
                        mount_path: m.mount_path.clone(),
                        path: format!("{}.volumeMounts[{mi}]", c.path),
                    });
                }
            }
        }

        let mut links = Vec::new();
        let mut externals = Vec::new();
        for (ci, c) in containers.iter().enumerate() {
            for found in connections(c) {
                match found {
                    Found::Local {
                        port,
                        via,
                        evidence,
                        path,
                    } => {
                        if c.ports.iter().any(|p| p.number == port)
                            || links.iter().any(|l: &Link| l.from == ci && l.port == port)
                        {
                            continue;
                        }
                        let others = || (0..containers.len()).filter(move |&o| o != ci);
                        let to = others()
                            .find(|&o| containers[o].ports.iter().any(|p| p.number == port));
                        let listener = others()
                            .find(|&o| containers[o].listens.iter().any(|l| l.port == port));
                        if to.is_none() && c.listens.iter().any(|l| l.port == port) {
                            // Talking to itself on a port it listens on.
                            continue;
                        }
                        links.push(Link {
                            from: ci,
                            port,
                            to,
                            listener,
                            via,
                            evidence,
                            path,
                        });
                    }
                    Found::External { target, path } => {
                        if !externals
                            .iter()
                            .any(|e: &External| e.from == ci && e.target == target)
                        {
                            externals.push(External {
                                from: ci,
                                target,
                                path,
                            });
                        }
                    }
                }
            }
        }
        // Probes of one container answered by another.
        for (ci, c) in containers.iter().enumerate() {
            for p in &c.probes {
                let Some(port) = p.port else { continue };
                if p.host.as_deref().is_some_and(|h| !is_local(h)) {
                    externals.push(External {
                        from: ci,
                        target: format!("{}:{port}", p.host.clone().unwrap_or_default()),
                        path: p.path.clone(),
                    });
                    continue;
                }
                if c.ports.iter().any(|x| x.number == port) {
                    continue;
                }
                let to = (0..containers.len())
                    .find(|&o| o != ci && containers[o].ports.iter().any(|x| x.number == port));
                if let Some(to) = to {
                    links.push(Link {
                        from: ci,
                        port,
                        to: Some(to),
                        listener: None,
                        via: Via::Probe,
                        evidence: format!("{} probe ({}) on port {port}", p.kind, p.handler),
                        path: p.path.clone(),
                    });
                }
            }
        }

        Topology {
            name: pod.metadata.name.clone().unwrap_or_default(),
            namespace: pod
                .metadata
                .namespace
                .clone()
                .filter(|n| !n.is_empty())
                .unwrap_or_else(|| "default".into()),
            containers,
            volumes,
            links,
            externals,
            primary,
            fs_group: pod_sc.fs_group,
            grace_seconds: spec.termination_grace_period_seconds.unwrap_or(30),
            grace_given: spec.termination_grace_period_seconds.is_some(),
            host_network: spec.host_network == Some(true),
            pod_resources: spec.resources.as_ref().is_some_and(|r| {
                [&r.requests, &r.limits]
                    .into_iter()
                    .flatten()
                    .any(|m| m.contains_key("cpu") || m.contains_key("memory"))
            }),
        }
    }

    /// Containers that depend on `c` through localhost (they connect to a port it declares or
    /// listens on), as `(client, link)`.
    pub fn clients_of(&self, c: usize) -> impl Iterator<Item = &Link> {
        self.links
            .iter()
            .filter(move |l| l.to == Some(c) || (l.to.is_none() && l.listener == Some(c)))
    }

    /// Shared writable volumes `c` mounts together with `other`: `(volume, c's mount, other's)`.
    pub fn shared_volumes(
        &self,
        c: usize,
        other: usize,
    ) -> impl Iterator<Item = (&Vol, &Mount, &Mount)> {
        self.volumes.iter().filter_map(move |v| {
            if !v.kind.writable() {
                return None;
            }
            let a = v.mounts.iter().find(|m| m.container == c)?;
            let b = v.mounts.iter().find(|m| m.container == other)?;
            Some((v, a, b))
        })
    }

    /// Whether `a` and `b` are tied by a localhost connection (either way) or a shared volume.
    pub fn related(&self, a: usize, b: usize) -> bool {
        self.links.iter().any(|l| {
            let server = l.to.or(l.listener);
            (l.from == a && server == Some(b)) || (l.from == b && server == Some(a))
        }) || self.shared_volumes(a, b).next().is_some()
    }

    /// Every port some container declares.
    pub fn declared_ports(&self) -> BTreeSet<u16> {
        self.containers
            .iter()
            .flat_map(|c| c.ports.iter().map(|p| p.number))
            .collect()
    }
}

fn ctr(
    c: &Container,
    role: ContainerRole,
    path: String,
    pod_sc: &k8s_openapi::api::core::v1::PodSecurityContext,
) -> Ctr {
    let ports: Vec<Port> = c
        .ports
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, p)| {
            Some(Port {
                number: u16::try_from(p.container_port).ok()?,
                name: p.name.clone(),
                protocol: p.protocol.clone().unwrap_or_else(|| "TCP".into()),
                path: format!("{path}.ports[{i}]"),
            })
        })
        .collect();
    let sc = c.security_context.clone().unwrap_or_default();
    let mut probes = Vec::new();
    for (kind, field, probe) in [
        ("startup", "startupProbe", &c.startup_probe),
        ("liveness", "livenessProbe", &c.liveness_probe),
        ("readiness", "readinessProbe", &c.readiness_probe),
    ] {
        if let Some(p) = probe {
            if let Some(t) = probe_target(p, kind, &format!("{path}.{field}"), &ports) {
                probes.push(t);
            }
        }
    }
    let mut out = Ctr {
        name: c.name.clone(),
        role,
        path,
        image: c.image.clone().unwrap_or_default(),
        ports,
        listens: Vec::new(),
        user: sc.run_as_user.or(pod_sc.run_as_user),
        group: sc.run_as_group.or(pod_sc.run_as_group),
        probes,
        pre_stop: c.lifecycle.as_ref().is_some_and(|l| l.pre_stop.is_some()),
        spec: c.clone(),
    };
    out.listens = listens(&out);
    out
}

fn probe_target(p: &Probe, kind: &'static str, path: &str, ports: &[Port]) -> Option<ProbeTarget> {
    let (handler, port, host) = if let Some(h) = &p.http_get {
        ("httpGet", &h.port, h.host.clone())
    } else if let Some(t) = &p.tcp_socket {
        ("tcpSocket", &t.port, t.host.clone())
    } else if let Some(g) = &p.grpc {
        let n = u16::try_from(g.port).ok();
        return Some(ProbeTarget {
            kind,
            handler: "grpc",
            port: n,
            port_name: None,
            host: None,
            path: format!("{path}.grpc.port"),
        });
    } else {
        return None;
    };
    let (number, name) = match port {
        IntOrString::Int(n) => (u16::try_from(*n).ok(), None),
        IntOrString::String(s) => match s.parse::<u16>() {
            Ok(n) => (Some(n), None),
            Err(_) => (
                ports
                    .iter()
                    .find(|p| p.name.as_deref() == Some(s))
                    .map(|p| p.number),
                Some(s.clone()),
            ),
        },
    };
    Some(ProbeTarget {
        kind,
        handler,
        port: number,
        port_name: name,
        host: host.filter(|h| !h.is_empty()),
        path: format!("{path}.{handler}.port"),
    })
}

fn vol_kind(v: &k8s_openapi::api::core::v1::Volume) -> VolKind {
    if let Some(e) = &v.empty_dir {
        VolKind::EmptyDir {
            memory: e.medium.as_deref() == Some("Memory"),
        }
    } else if let Some(h) = &v.host_path {
        VolKind::HostPath(h.path.clone())
    } else if let Some(c) = &v.config_map {
        VolKind::ConfigMap(c.name.clone())
    } else if let Some(s) = &v.secret {
        VolKind::Secret(s.secret_name.clone().unwrap_or_default())
    } else if v.projected.is_some() {
        VolKind::Other("projected")
    } else if v.downward_api.is_some() {
        VolKind::Other("downwardAPI")
    } else if v.persistent_volume_claim.is_some() {
        VolKind::Other("persistentVolumeClaim")
    } else if v.ephemeral.is_some() {
        VolKind::Other("ephemeral")
    } else if v.image.is_some() {
        VolKind::Other("image")
    } else {
        VolKind::Other("volume")
    }
}

pub(crate) fn is_local(host: &str) -> bool {
    matches!(
        host.trim_matches(|c| c == '[' || c == ']'),
        "localhost" | "127.0.0.1" | "::1" | "0.0.0.0"
    )
}

/// A literal env value (`value:`, not `valueFrom`).
fn literal_env(c: &Container) -> Vec<(usize, &str, &str)> {
    c.env
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, e)| Some((i, e.name.as_str(), e.value.as_deref()?)))
        .collect()
}

/// `command[0]`, `args[1]`, ... with their text.
fn argv(c: &Ctr) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for (field, list) in [("command", &c.spec.command), ("args", &c.spec.args)] {
        for (i, a) in list.iter().flatten().enumerate() {
            out.push((format!("{}.{field}[{i}]", c.path), a.as_str()));
        }
    }
    out
}

/// Flags that set a port the process listens on: `--port`, `--http-port`, `--listen`, `--bind`.
fn listen_flag(name: &str) -> bool {
    let n = name.trim_start_matches('-').to_ascii_lowercase();
    if n.is_empty() {
        return false;
    }
    const CONNECT: [&str; 9] = [
        "upstream", "target", "backend", "remote", "server", "db", "database", "redis", "dest",
    ];
    if n.contains("listen") || n.contains("bind") {
        return true;
    }
    n.ends_with("port") && !CONNECT.iter().any(|w| n.contains(w))
}

/// A port in a flag value: `5432`, `:5432`, `0.0.0.0:5432`, `[::]:5432`.
fn port_value(v: &str) -> Option<u16> {
    let v = v.trim().trim_matches(|c| c == '"' || c == '\'');
    let p = v.rsplit_once(':').map_or(v, |(_, p)| p);
    p.parse::<u16>().ok().filter(|p| *p > 0)
}

fn listens(c: &Ctr) -> Vec<Listen> {
    let mut out: Vec<Listen> = Vec::new();
    let mut push = |port: u16, evidence: String, path: &str| {
        if !out.iter().any(|l| l.port == port) && !c.ports.iter().any(|p| p.number == port) {
            let flag = evidence.split(['=', ' ']).next().unwrap_or_default();
            out.push(Listen {
                port,
                protocol: if flag.to_ascii_lowercase().contains("udp") {
                    "UDP"
                } else {
                    "TCP"
                },
                evidence,
                path: path.to_string(),
            });
        }
    };
    let args = argv(c);
    let mut words: Vec<(&str, &str)> = Vec::new();
    for (path, text) in &args {
        for w in text.split_whitespace() {
            words.push((path.as_str(), w.trim_matches(|ch| ch == '"' || ch == '\'')));
        }
    }
    for (i, (path, w)) in words.iter().enumerate() {
        if !w.starts_with('-') {
            continue;
        }
        match w.split_once('=') {
            Some((flag, value)) if listen_flag(flag) => {
                if let Some(p) = port_value(value) {
                    push(p, (*w).to_string(), path);
                }
            }
            None if listen_flag(w) => {
                if let Some((_, next)) = words.get(i + 1) {
                    if let Some(p) = port_value(next) {
                        push(p, format!("{w} {next}"), path);
                    }
                }
            }
            _ => {}
        }
    }
    for (i, name, value) in literal_env(&c.spec) {
        let upper = name.to_ascii_uppercase();
        if upper == "PORT" || upper.contains("LISTEN") {
            if let Some(p) = port_value(value) {
                push(
                    p,
                    format!("{name}={value}"),
                    &format!("{}.env[{i}].value", c.path),
                );
            }
        }
    }
    out
}

enum Found {
    Local {
        port: u16,
        via: Via,
        evidence: String,
        path: String,
    },
    External {
        target: String,
        path: String,
    },
}

/// An endpoint named in text.
#[derive(Debug, PartialEq, Eq)]
struct Endpoint {
    host: String,
    port: Option<u16>,
    /// The URL or `host:port` as written.
    raw: String,
}

fn default_port(scheme: &str) -> Option<u16> {
    Some(match scheme {
        "http" | "ws" => 80,
        "https" | "wss" => 443,
        "redis" => 6379,
        "postgres" | "postgresql" => 5432,
        "mysql" => 3306,
        "mongodb" => 27017,
        "amqp" => 5672,
        "nats" => 4222,
        _ => return None,
    })
}

fn host_like(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
        return !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':');
    }
    !h.is_empty()
        && h.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_')
        && h.chars().any(|c| c.is_ascii_alphabetic() || c == '.')
}

fn split_host_port(authority: &str) -> Option<(String, Option<u16>)> {
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    if authority.starts_with('[') {
        let end = authority.find(']')?;
        let host = &authority[..=end];
        let rest = &authority[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p.parse().ok()?),
            None if rest.is_empty() => None,
            None => return None,
        };
        return Some((host.to_string(), port));
    }
    match authority.split_once(':') {
        Some((h, p)) => Some((h.to_string(), Some(p.parse().ok()?))),
        None => Some((authority.to_string(), None)),
    }
}

/// URLs (`http://localhost:8080/stats`) and `host:port` pairs (`localhost:5432`) in free text.
fn endpoints(text: &str) -> Vec<Endpoint> {
    let mut out = Vec::new();
    let seps = |c: char| {
        c.is_whitespace()
            || matches!(
                c,
                '"' | '\'' | ',' | ';' | '(' | ')' | '<' | '>' | '|' | '`' | '{' | '}'
            )
    };
    for token in text.split(seps).filter(|t| !t.is_empty()) {
        // `--upstream=localhost:8080`, `URL=http://...`: the value.
        let token = match token.split_once('=') {
            Some((k, v)) if !k.contains("://") && !k.contains('/') => v,
            _ => token,
        };
        if let Some((scheme, rest)) = token.split_once("://") {
            let scheme = scheme.to_ascii_lowercase();
            if scheme.is_empty()
                || scheme == "file"
                || !scheme
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            {
                continue;
            }
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let Some((host, port)) = split_host_port(authority) else {
                continue;
            };
            // A URI of a scheme without a known port and with none written names an object
            // (`gs://bucket/key`, `secretmanager://projects/p/secrets/s`), not a place to connect.
            let port = port.or_else(|| default_port(&scheme));
            if !host_like(&host) || port.is_none() {
                continue;
            }
            out.push(Endpoint {
                port,
                host,
                raw: token.trim_end_matches(['.', ':']).to_string(),
            });
        } else if let Some((host, port)) = token.rsplit_once(':') {
            let host = host.trim_start_matches('@');
            let Ok(port) = port.trim_end_matches(['/', '.']).parse::<u16>() else {
                continue;
            };
            if port == 0 || !host_like(host) {
                continue;
            }
            // `redis:7` looks like an image reference; ask for a dotted host outside the pod.
            if !is_local(host) && !host.contains('.') {
                continue;
            }
            out.push(Endpoint {
                host: host.to_string(),
                port: Some(port),
                raw: format!("{host}:{port}"),
            });
        }
    }
    out
}

fn connections(c: &Ctr) -> Vec<Found> {
    let mut out = Vec::new();
    let env = literal_env(&c.spec);
    // `DB_HOST=localhost` + `DB_PORT=5432`.
    for &(i, name, value) in &env {
        let upper = name.to_ascii_uppercase();
        let Some(prefix) = upper
            .strip_suffix("HOSTNAME")
            .or_else(|| upper.strip_suffix("HOST"))
        else {
            continue;
        };
        let port = env.iter().find_map(|&(j, n, v)| {
            (n.to_ascii_uppercase() == format!("{prefix}PORT"))
                .then(|| v.trim().parse::<u16>().ok().map(|p| (j, n, p)))
                .flatten()
        });
        let host = value.trim();
        if host.contains(':') && !host.starts_with('[') {
            // A host:port or URL in a *_HOST variable: the general scan below sees it.
            continue;
        }
        match port {
            Some((j, pname, p)) if is_local(host) => out.push(Found::Local {
                port: p,
                via: Via::EnvPair,
                evidence: format!("{name}={host}, {pname}={p}"),
                path: format!("{}.env[{j}].value", c.path),
            }),
            Some((_, _, p)) if host_like(host) => out.push(Found::External {
                target: format!("{host}:{p}"),
                path: format!("{}.env[{i}].value", c.path),
            }),
            None if host_like(host) && !is_local(host) => out.push(Found::External {
                target: host.to_string(),
                path: format!("{}.env[{i}].value", c.path),
            }),
            _ => {}
        }
    }
    let mut texts: Vec<(String, String, Via)> = env
        .iter()
        .map(|&(i, name, value)| {
            (
                format!("{}.env[{i}].value", c.path),
                format!("{name}={value}"),
                Via::Env,
            )
        })
        .collect();
    for (path, text) in argv(c) {
        // Listen flags say where the container itself listens, not where it connects.
        let filtered: Vec<&str> = text
            .split_whitespace()
            .filter(|w| {
                let flag = w.split_once('=').map_or(*w, |(f, _)| f);
                !(w.starts_with('-') && listen_flag(flag))
            })
            .collect();
        texts.push((path, filtered.join(" "), Via::Args));
    }
    for (path, text, via) in texts {
        let value = match via {
            Via::Env => text.split_once('=').map_or("", |(_, v)| v),
            _ => text.as_str(),
        };
        for e in endpoints(value) {
            match e.port {
                Some(port) if is_local(&e.host) => out.push(Found::Local {
                    port,
                    via,
                    evidence: match via {
                        Via::Env => {
                            format!("{}={}", text.split_once('=').map_or("", |(k, _)| k), e.raw)
                        }
                        _ => e.raw,
                    },
                    path: path.clone(),
                }),
                None if is_local(&e.host) => {}
                _ => out.push(Found::External {
                    target: e.raw,
                    path: path.clone(),
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ep(text: &str) -> Vec<(String, Option<u16>)> {
        endpoints(text)
            .into_iter()
            .map(|e| (e.host, e.port))
            .collect()
    }

    #[test]
    fn endpoints_in_text() {
        assert_eq!(
            ep("wget -qO- http://localhost:9090/metrics 2>/dev/null"),
            vec![("localhost".into(), Some(9090))]
        );
        assert_eq!(
            ep("http://127.0.0.1/x"),
            vec![("127.0.0.1".into(), Some(80))]
        );
        assert_eq!(
            ep("--upstream=localhost:8080 https://api.example.com/v1"),
            vec![
                ("localhost".into(), Some(8080)),
                ("api.example.com".into(), Some(443))
            ]
        );
        assert_eq!(ep("[::1]:53"), vec![("[::1]".into(), Some(53))]);
        // Times, image tags, `project:region:instance` and bare words are not endpoints.
        assert!(ep("12:44:29 redis:7 myapp:2.0 project:region:instance").is_empty());
        assert!(ep("file:///etc/x").is_empty());
        // URIs of objects are not endpoints; a scheme without a default port needs one written.
        assert!(ep("gs://my-bucket/config.json sm://projects/p/secrets/db k8s://ns/cm").is_empty());
        assert_eq!(
            ep("OTEL_EXPORTER=grpc://collector.example.com:4317"),
            vec![("collector.example.com".into(), Some(4317))]
        );
    }

    #[test]
    fn listen_flags() {
        assert!(listen_flag("--port"));
        assert!(listen_flag("--metrics-port"));
        assert!(listen_flag("-listen-address"));
        assert!(!listen_flag("--db-port"));
        assert!(!listen_flag("--upstream-port"));
        assert!(!listen_flag("--verbose"));
        assert_eq!(port_value("0.0.0.0:8080"), Some(8080));
        assert_eq!(port_value(":9000"), Some(9000));
        assert_eq!(port_value("abc"), None);
    }
}
