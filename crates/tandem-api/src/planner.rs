//! A defaulted, validated Pod into a [`PodPlan`]: ConfigMap and Secret references resolved against
//! the given objects, named ports resolved, securityContexts merged, volume files rendered.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, ContainerPort, DownwardAPIVolumeFile, HTTPGetAction, KeyToPath, LifecycleHandler,
    Pod, PodSpec, Probe as KProbe, ResourceFieldSelector, TCPSocketAction, Volume,
};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use crate::cx::Cx;
use crate::defaults::{DEFAULT_FILE_MODE, DEFAULT_TGPS, TERMINATION_MESSAGE_PATH};
use crate::env::escape;
use crate::names;
use crate::objects::Store;
use crate::path::FieldPath;
use crate::plan::*;
use crate::quantity::parse_quantity;

/// Plans a pod. Reference problems are reported through `cx`; the plan is only meaningful when
/// `cx` holds no errors.
pub(crate) fn plan(
    cx: &mut Cx<'_>,
    pod: &Pod,
    store: &Store,
    claims_dir: &str,
    token_key: Option<&str>,
) -> PodPlan {
    let empty = PodSpec::default();
    let spec = pod.spec.as_ref().unwrap_or(&empty);
    let meta = &pod.metadata;
    let name = meta.name.clone().unwrap_or_default();
    let namespace = meta
        .namespace
        .clone()
        .unwrap_or_else(|| crate::DEFAULT_NAMESPACE.into());
    let hostname = hostname(spec.hostname.as_deref(), &name);
    let sc = spec.security_context.clone().unwrap_or_default();
    let mut plan = PodPlan {
        name,
        namespace: namespace.clone(),
        uid: meta.uid.clone().unwrap_or_default(),
        labels: meta.labels.clone().unwrap_or_default(),
        annotations: meta.annotations.clone().unwrap_or_default(),
        hostname,
        subdomain: spec.subdomain.clone().filter(|s| !s.is_empty()),
        restart_policy: match spec.restart_policy.as_deref() {
            Some("OnFailure") => RestartPolicy::OnFailure,
            Some("Never") => RestartPolicy::Never,
            _ => RestartPolicy::Always,
        },
        termination_grace_period_seconds: spec
            .termination_grace_period_seconds
            .unwrap_or(DEFAULT_TGPS),
        active_deadline_seconds: spec.active_deadline_seconds,
        init_containers: Vec::new(),
        containers: Vec::new(),
        ephemeral_containers: Vec::new(),
        volumes: Vec::new(),
        dns_policy: match spec.dns_policy.as_deref() {
            Some("ClusterFirstWithHostNet") => DnsPolicy::ClusterFirstWithHostNet,
            Some("Default") => DnsPolicy::Default,
            Some("None") => DnsPolicy::None,
            _ => DnsPolicy::ClusterFirst,
        },
        dns_config: spec.dns_config.as_ref().map(|d| DnsConfig {
            nameservers: d.nameservers.clone().unwrap_or_default(),
            searches: d.searches.clone().unwrap_or_default(),
            options: d
                .options
                .iter()
                .flatten()
                .map(|o| (o.name.clone().unwrap_or_default(), o.value.clone()))
                .collect(),
        }),
        host_aliases: spec
            .host_aliases
            .iter()
            .flatten()
            .map(|a| HostAlias {
                ip: a.ip.clone(),
                hostnames: a.hostnames.clone().unwrap_or_default(),
            })
            .collect(),
        host_network: spec.host_network.unwrap_or(false),
        host_pid: spec.host_pid.unwrap_or(false),
        host_ipc: spec.host_ipc.unwrap_or(false),
        share_process_namespace: spec.share_process_namespace.unwrap_or(false),
        service_account_name: spec
            .service_account_name
            .clone()
            .unwrap_or_else(|| "default".into()),
        token_key: token_key.map(str::to_string),
        node_name: spec.node_name.clone().unwrap_or_default(),
        security: PodSecurity {
            run_as_user: id(sc.run_as_user),
            run_as_group: id(sc.run_as_group),
            run_as_non_root: sc.run_as_non_root,
            fs_group: id(sc.fs_group),
            fs_group_change_policy: sc.fs_group_change_policy.clone(),
            supplemental_groups: sc
                .supplemental_groups
                .iter()
                .flatten()
                .filter_map(|g| id(Some(*g)))
                .collect(),
            sysctls: sc
                .sysctls
                .iter()
                .flatten()
                .map(|s| (s.name.clone(), s.value.clone()))
                .collect(),
            supplemental_groups_policy: sc.supplemental_groups_policy.clone(),
            user_namespace: spec.host_users == Some(false),
        },
        enable_service_links: spec.enable_service_links.unwrap_or(true),
        readiness_gates: spec
            .readiness_gates
            .iter()
            .flatten()
            .map(|g| g.condition_type.clone())
            .collect(),
        pod_max_pids: None,
        allowed_unsafe_sysctls: Vec::new(),
        container_logs: ContainerLogPolicy::default(),
        resources: spec.resources.as_ref().map(|r| requirements(Some(r))),
    };
    let mut planner = Planner {
        cx,
        store,
        claims_dir,
        namespace,
        spec,
    };
    let p = FieldPath::root().field("spec");
    for (i, c) in spec.init_containers.iter().flatten().enumerate() {
        let role = ContainerRole::of(true, c.restart_policy.as_deref());
        let cp = planner.container(c, role, &p.field("initContainers").index(i));
        plan.init_containers.push(cp);
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let cp = planner.container(c, ContainerRole::Main, &p.field("containers").index(i));
        plan.containers.push(cp);
    }
    plan.volumes = spec
        .volumes
        .iter()
        .flatten()
        .enumerate()
        .filter_map(|(i, v)| planner.volume(v, &p.field("volumes").index(i)))
        .collect();
    plan
}

/// The kubelet's hostname rule: `spec.hostname` or the pod name, cut to 63 characters with
/// trailing `-` and `.` removed.
pub(crate) fn hostname(spec_hostname: Option<&str>, pod_name: &str) -> String {
    let h = spec_hostname.filter(|h| !h.is_empty()).unwrap_or(pod_name);
    if h.len() <= names::DNS1123_LABEL_MAX {
        return h.to_string();
    }
    let cut: String = h.chars().take(names::DNS1123_LABEL_MAX).collect();
    cut.trim_end_matches(['-', '.']).to_string()
}

struct Planner<'c, 'a, 's> {
    cx: &'c mut Cx<'a>,
    store: &'s Store,
    claims_dir: &'s str,
    namespace: String,
    spec: &'s PodSpec,
}

const REF_HINT: &str = "add it to this file, or pass the file that defines it with another -f";

impl Planner<'_, '_, '_> {
    /// A reference to an object (or a key of one) the sources do not hold: read when the
    /// container is created, as the kubelet reads it; said once here, since until it exists the
    /// container waits (`missing` names what, `at` where).
    fn deferred(&mut self, at: &FieldPath, missing: String, r: ObjectKeyRef) -> EnvValue {
        if !r.optional {
            self.cx.warn(
                at,
                format!("{missing}: the container waits (CreateContainerConfigError) until it exists"),
                Some(format!(
                    "create it (`tandem apply -f FILE`, or through the API) and the container starts at its next try, within 10 s; {REF_HINT}; or mark the reference `optional: true`"
                )),
            );
        }
        EnvValue::FromObject(r)
    }

    /// One `configMapKeyRef`/`secretKeyRef` of env `what.0` in container `what.1`: the value
    /// when the object and key are at hand, else a reference read when the container is created.
    /// `found` is the object's value for the key and all its keys, when the object exists.
    fn key_ref(
        &mut self,
        at: &FieldPath,
        r: ObjectKeyRef,
        found: Option<(Option<String>, Vec<String>)>,
        what: (&str, &str),
    ) -> EnvValue {
        let key = r.key.clone().unwrap_or_default();
        let (kind, name) = (r.kind.name(), r.name.clone());
        match found {
            Some((Some(v), _)) => EnvValue::Literal(escape(&v)),
            Some((None, keys)) => {
                let have = match keys.is_empty() {
                    true => "it has no keys".to_string(),
                    false => format!("its keys: {}", keys.join(", ")),
                };
                let missing = format!("key {key:?} not found in {kind} {name:?} ({have})");
                self.deferred(&at.field("key"), missing, r)
            }
            None => {
                let missing = format!(
                    "{kind} {name:?} not found in namespace {:?} (referenced by env {:?} of container {:?}, key {key:?})",
                    self.namespace, what.0, what.1
                );
                self.deferred(&at.field("name"), missing, r)
            }
        }
    }

    fn container(&mut self, c: &Container, role: ContainerRole, p: &FieldPath) -> ContainerPlan {
        let ports: Vec<&ContainerPort> = c.ports.iter().flatten().collect();
        let sc = c.security_context.clone().unwrap_or_default();
        let pod_sc = self.spec.security_context.clone().unwrap_or_default();
        let seccomp = sc
            .seccomp_profile
            .as_ref()
            .or(pod_sc.seccomp_profile.as_ref())
            .map(
                |s| match (s.type_.as_str(), s.localhost_profile.as_deref()) {
                    ("Localhost", Some(profile)) => format!("Localhost/{profile}"),
                    (t, _) => t.to_string(),
                },
            );
        let caps = sc.capabilities.clone().unwrap_or_default();
        let image = c.image.clone().unwrap_or_default();
        ContainerPlan {
            name: c.name.clone(),
            role,
            image_pull_policy: pull_policy(c.image_pull_policy.as_deref(), &image),
            image,
            command: c.command.clone().filter(|v| !v.is_empty()),
            args: c.args.clone().filter(|v| !v.is_empty()),
            working_dir: c.working_dir.clone().filter(|w| !w.is_empty()),
            env: self.env(c, p),
            ports: ports
                .iter()
                .map(|port| crate::plan::ContainerPort {
                    name: port.name.clone().filter(|n| !n.is_empty()),
                    container_port: u16::try_from(port.container_port).unwrap_or_default(),
                    protocol: port.protocol.clone().unwrap_or_else(|| "TCP".into()),
                    host_port: port
                        .host_port
                        .and_then(|h| u16::try_from(h).ok())
                        .filter(|h| *h != 0),
                    host_ip: port.host_ip.clone().filter(|h| !h.is_empty()),
                })
                .collect(),
            volume_mounts: c
                .volume_mounts
                .iter()
                .flatten()
                .map(|m| {
                    let files_volume = self
                        .spec
                        .volumes
                        .iter()
                        .flatten()
                        .find(|v| v.name == m.name)
                        .is_some_and(|v| {
                            v.config_map.is_some()
                                || v.secret.is_some()
                                || v.downward_api.is_some()
                                || v.projected.is_some()
                        });
                    VolumeMount {
                        name: m.name.clone(),
                        mount_path: m.mount_path.clone(),
                        read_only: m.read_only.unwrap_or(false) || files_volume,
                        sub_path: m.sub_path.clone().filter(|s| !s.is_empty()),
                        sub_path_expr: m.sub_path_expr.clone().filter(|s| !s.is_empty()),
                    }
                })
                .collect(),
            resources: resources(c),
            startup_probe: c.startup_probe.as_ref().and_then(|pr| probe(pr, c, &ports)),
            liveness_probe: c
                .liveness_probe
                .as_ref()
                .and_then(|pr| probe(pr, c, &ports)),
            readiness_probe: c
                .readiness_probe
                .as_ref()
                .and_then(|pr| probe(pr, c, &ports)),
            post_start: c
                .lifecycle
                .as_ref()
                .and_then(|l| l.post_start.as_ref())
                .and_then(|h| lifecycle_handler(h, &ports)),
            pre_stop: c
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(|h| lifecycle_handler(h, &ports)),
            termination_message_path: c
                .termination_message_path
                .clone()
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| TERMINATION_MESSAGE_PATH.into()),
            termination_message_policy: match c.termination_message_policy.as_deref() {
                Some("FallbackToLogsOnError") => TerminationMessagePolicy::FallbackToLogsOnError,
                _ => TerminationMessagePolicy::File,
            },
            security: ContainerSecurity {
                run_as_user: id(sc.run_as_user.or(pod_sc.run_as_user)),
                run_as_group: id(sc.run_as_group.or(pod_sc.run_as_group)),
                run_as_non_root: sc.run_as_non_root.or(pod_sc.run_as_non_root),
                privileged: sc.privileged.unwrap_or(false),
                read_only_root_filesystem: sc.read_only_root_filesystem.unwrap_or(false),
                allow_privilege_escalation: sc.allow_privilege_escalation,
                capabilities_add: caps.add.unwrap_or_default(),
                capabilities_drop: caps.drop.unwrap_or_default(),
                proc_mount: sc.proc_mount.clone(),
                seccomp_profile: seccomp,
            },
            stdin: c.stdin.unwrap_or(false),
            stdin_once: c.stdin_once.unwrap_or(false),
            tty: c.tty.unwrap_or(false),
            restart_policy: match (role, c.restart_policy.as_deref()) {
                (ContainerRole::Sidecar, _) => None,
                (_, Some("Always")) => Some(RestartPolicy::Always),
                (_, Some("OnFailure")) => Some(RestartPolicy::OnFailure),
                (_, Some("Never")) => Some(RestartPolicy::Never),
                _ => None,
            },
            restart_rules: c
                .restart_policy_rules
                .iter()
                .flatten()
                // Validation refuses every other action and a rule without exitCodes.
                .filter_map(|r| {
                    let action = match r.action.as_str() {
                        "Restart" => RestartAction::Restart,
                        "RestartAllContainers" => RestartAction::RestartAllContainers,
                        _ => return None,
                    };
                    let e = r.exit_codes.as_ref()?;
                    Some(RestartRule {
                        operator: if e.operator == "NotIn" {
                            ExitCodeOperator::NotIn
                        } else {
                            ExitCodeOperator::In
                        },
                        values: e.values.clone().unwrap_or_default(),
                        action,
                    })
                })
                .collect(),
            stop_signal: c
                .lifecycle
                .as_ref()
                .and_then(|l| l.stop_signal.clone())
                .filter(|s| !s.is_empty()),
            target_container: None,
        }
    }

    /// envFrom first (in order, keys sorted within a source), then env, as the kubelet does.
    fn env(&mut self, c: &Container, p: &FieldPath) -> Vec<EnvVar> {
        let mut out = Vec::new();
        for (i, ef) in c.env_from.iter().flatten().enumerate() {
            let ep = p.field("envFrom").index(i);
            let prefix = ef.prefix.clone().unwrap_or_default();
            let found = if let Some(r) = &ef.config_map_ref {
                let data = self.store.config_map(&self.namespace, &r.name).map(|cm| {
                    cm.data
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                });
                (
                    ObjectKind::ConfigMap,
                    "configMapRef",
                    &r.name,
                    r.optional,
                    data,
                )
            } else if let Some(r) = &ef.secret_ref {
                let data = self.store.secret(&self.namespace, &r.name).map(|s| {
                    s.data
                        .iter()
                        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned()))
                        .collect()
                });
                (ObjectKind::Secret, "secretRef", &r.name, r.optional, data)
            } else {
                continue;
            };
            let (kind, field, name, optional, data) = found;
            let source = format!("{} {name:?}", kind.name());
            let pairs: Vec<(String, String)> = match data {
                Some(data) => data,
                None => {
                    let missing = format!(
                        "{} {name:?} not found in namespace {:?} (referenced by envFrom of container {:?})",
                        kind.name(),
                        self.namespace,
                        c.name
                    );
                    let r = ObjectKeyRef {
                        kind,
                        name: name.clone(),
                        key: None,
                        optional: optional == Some(true),
                    };
                    let value = self.deferred(&ep.field(field).field("name"), missing, r);
                    out.push(EnvVar {
                        name: prefix.clone(),
                        value,
                    });
                    continue;
                }
            };
            for (k, v) in pairs {
                let name = format!("{prefix}{k}");
                if let Some(msg) = names::env_var_name(&name) {
                    self.cx.warn(
                        &ep,
                        format!("key {k:?} of {source} is skipped: {name:?} is not a valid environment variable name ({msg})"),
                        None,
                    );
                    continue;
                }
                out.push(EnvVar {
                    name,
                    value: EnvValue::Literal(escape(&v)),
                });
            }
        }
        for (i, e) in c.env.iter().flatten().enumerate() {
            let vp = p.field("env").index(i).field("valueFrom");
            let value = match &e.value_from {
                None => EnvValue::Literal(e.value.clone().unwrap_or_default()),
                Some(from) => {
                    if let Some(f) = &from.field_ref {
                        EnvValue::FieldRef(f.field_path.clone())
                    } else if let Some(r) = &from.resource_field_ref {
                        EnvValue::ResourceFieldRef(resource_field_ref(r, &c.name))
                    } else if let Some(r) = &from.config_map_key_ref {
                        let found = self.store.config_map(&self.namespace, &r.name).map(|cm| {
                            (
                                cm.data.get(&r.key).cloned(),
                                cm.data.keys().cloned().collect(),
                            )
                        });
                        let at = vp.field("configMapKeyRef");
                        let reference = ObjectKeyRef {
                            kind: ObjectKind::ConfigMap,
                            name: r.name.clone(),
                            key: Some(r.key.clone()),
                            optional: r.optional == Some(true),
                        };
                        self.key_ref(&at, reference, found, (&e.name, &c.name))
                    } else if let Some(r) = &from.secret_key_ref {
                        let found = self.store.secret(&self.namespace, &r.name).map(|s| {
                            let value = s
                                .data
                                .get(&r.key)
                                .map(|v| String::from_utf8_lossy(v).into_owned());
                            (value, s.data.keys().cloned().collect())
                        });
                        let at = vp.field("secretKeyRef");
                        let reference = ObjectKeyRef {
                            kind: ObjectKind::Secret,
                            name: r.name.clone(),
                            key: Some(r.key.clone()),
                            optional: r.optional == Some(true),
                        };
                        self.key_ref(&at, reference, found, (&e.name, &c.name))
                    } else {
                        continue;
                    }
                }
            };
            out.push(EnvVar {
                name: e.name.clone(),
                value,
            });
        }
        out
    }

    fn volume(&mut self, v: &Volume, p: &FieldPath) -> Option<VolumePlan> {
        let source = if let Some(e) = &v.empty_dir {
            VolumeSource::EmptyDir {
                memory: e.medium.as_deref() == Some("Memory"),
                size_limit_bytes: e
                    .size_limit
                    .as_ref()
                    .and_then(|q| parse_quantity(&q.0).ok())
                    .and_then(|q| q.bytes()),
                size_limit_quantity: e
                    .size_limit
                    .as_ref()
                    .and_then(|q| parse_quantity(&q.0).ok())
                    .and_then(|q| q.canonical_bytes()),
            }
        } else if let Some(h) = &v.host_path {
            VolumeSource::HostPath {
                path: h.path.clone(),
                kind: h.type_.clone().unwrap_or_default(),
            }
        } else if let Some(c) = &v.config_map {
            let source = ObjectSource {
                kind: ObjectKind::ConfigMap,
                name: &c.name,
                items: c.items.as_deref(),
                optional: c.optional,
                default_mode: c.default_mode,
                name_field: "name",
            };
            let what = format!("volume {:?}", v.name);
            let part = self.object_part(source, &p.field("configMap"), &what);
            VolumeSource::Files { parts: vec![part] }
        } else if let Some(s) = &v.secret {
            let source = ObjectSource {
                kind: ObjectKind::Secret,
                name: s.secret_name.as_deref().unwrap_or_default(),
                items: s.items.as_deref(),
                optional: s.optional,
                default_mode: s.default_mode,
                name_field: "secretName",
            };
            let what = format!("volume {:?}", v.name);
            let part = self.object_part(source, &p.field("secret"), &what);
            VolumeSource::Files { parts: vec![part] }
        } else if let Some(d) = &v.downward_api {
            let mode = file_mode(d.default_mode);
            let files = downward_files(d.items.as_deref(), mode);
            VolumeSource::Files {
                parts: vec![FilePart::Fixed(files)],
            }
        } else if let Some(pr) = &v.projected {
            let mode = file_mode(pr.default_mode);
            let mut parts = Vec::new();
            let what = format!("projected volume {:?}", v.name);
            for (i, s) in pr.sources.iter().flatten().enumerate() {
                let sp = p.field("projected").field("sources").index(i);
                let (source, at) = if let Some(c) = &s.config_map {
                    let source = ObjectSource {
                        kind: ObjectKind::ConfigMap,
                        name: &c.name,
                        items: c.items.as_deref(),
                        optional: c.optional,
                        default_mode: pr.default_mode,
                        name_field: "name",
                    };
                    (source, sp.field("configMap"))
                } else if let Some(c) = &s.secret {
                    let source = ObjectSource {
                        kind: ObjectKind::Secret,
                        name: &c.name,
                        items: c.items.as_deref(),
                        optional: c.optional,
                        default_mode: pr.default_mode,
                        name_field: "name",
                    };
                    (source, sp.field("secret"))
                } else {
                    if let Some(d) = &s.downward_api {
                        let files = downward_files(d.items.as_deref(), mode);
                        parts.push(FilePart::Fixed(files));
                    }
                    if let Some(t) = &s.service_account_token {
                        parts.push(FilePart::Token(TokenFile {
                            path: t.path.clone(),
                            mode,
                            token: TokenRequest {
                                audience: t.audience.clone().filter(|a| !a.is_empty()),
                                expiration_seconds: t.expiration_seconds.unwrap_or(3600),
                            },
                        }));
                    }
                    continue;
                };
                parts.push(self.object_part(source, &at, &what));
            }
            VolumeSource::Files { parts }
        } else if let Some(i) = &v.image {
            let reference = i.reference.clone().unwrap_or_default();
            VolumeSource::Image {
                pull_policy: pull_policy(i.pull_policy.as_deref(), &reference),
                reference,
            }
        } else if let Some(c) = &v.persistent_volume_claim {
            VolumeSource::Claim {
                claim: c.claim_name.clone(),
                path: format!(
                    "{}/{}/{}",
                    self.claims_dir.trim_end_matches('/'),
                    self.namespace,
                    c.claim_name
                ),
            }
        } else if serde_json::to_value(v)
            .ok()
            .and_then(|j| crate::stand_ins::source_of(&j))
            .is_some()
        {
            // A disk or share this machine cannot have: an empty directory of the pod's own
            // stands in for it (the load warned, or refused it under `strict`).
            VolumeSource::EmptyDir {
                memory: false,
                size_limit_bytes: None,
                size_limit_quantity: None,
            }
        } else {
            return None;
        };
        Some(VolumePlan {
            name: v.name.clone(),
            source,
        })
    }

    /// The files a `configMap`/`secret` volume or projected source gives, when its object is at
    /// hand; otherwise (or when it lacks a listed key) the projection goes to `awaiting`, read
    /// when the pod's volumes are set up, and the load warns once. An optional reference to a
    /// missing object or key projects nothing for it, as in the kubelet's volume plugins.
    /// A volume's ConfigMap or Secret, with what the objects given hold of it; one that is
    /// missing (or lacks a listed key) and not optional is said once here, since until it
    /// exists the pod waits.
    fn object_part(&mut self, source: ObjectSource<'_>, at: &FieldPath, what: &str) -> FilePart {
        let mode = file_mode(source.default_mode);
        let projection = ObjectFiles {
            kind: source.kind,
            name: source.name.to_string(),
            items: source
                .items
                .unwrap_or_default()
                .iter()
                .map(|it| KeyFile {
                    key: it.key.clone(),
                    path: it.path.clone(),
                    mode: it.mode.map_or(mode, file_mode_of),
                })
                .collect(),
            mode,
        };
        let content: Option<BTreeMap<String, Vec<u8>>> = match source.kind {
            ObjectKind::ConfigMap => self
                .store
                .config_map(&self.namespace, source.name)
                .map(|cm| cm.files()),
            ObjectKind::Secret => self
                .store
                .secret(&self.namespace, source.name)
                .map(|s| s.data.clone()),
        };
        let optional = source.optional == Some(true);
        let kind = source.kind.name();
        let name = source.name;
        match &content {
            None if !optional => {
                let missing = format!(
                    "{kind} {name:?} not found in namespace {:?} (referenced by {what})",
                    self.namespace
                );
                self.awaited(&at.field(source.name_field), missing);
            }
            Some(content) if !optional => {
                if let Some(&first) = projection.project(content).1.first() {
                    let keys: Vec<&str> = content.keys().map(String::as_str).collect();
                    let have = match keys.is_empty() {
                        true => "it has no keys".to_string(),
                        false => format!("its keys: {}", keys.join(", ")),
                    };
                    let key = &projection.items[first].key;
                    let missing = format!("key {key:?} not found in {kind} {name:?} ({have})");
                    self.awaited(&at.field("items").index(first).field("key"), missing);
                }
            }
            _ => {}
        }
        FilePart::Object {
            files: projection,
            optional,
            held: content,
        }
    }

    /// A volume's object (or a key of it) the sources do not hold.
    fn awaited(&mut self, at: &FieldPath, missing: String) {
        self.cx.warn(
            at,
            format!("{missing}: the pod waits in ContainerCreating (FailedMount) until it exists"),
            Some(format!(
                "create it (`tandem apply -f FILE`, or through the API) and the pod starts at its next try, within 10 s; {REF_HINT}; or mark the reference `optional: true`"
            )),
        );
    }
}

/// A `configMap`/`secret` volume or projected source, as [`Planner::object_part`] reads it.
struct ObjectSource<'a> {
    kind: ObjectKind,
    name: &'a str,
    items: Option<&'a [KeyToPath]>,
    optional: Option<bool>,
    default_mode: Option<i32>,
    /// The field that names the object: `name`, or a secret volume's `secretName`.
    name_field: &'static str,
}

/// A container's `imagePullPolicy` or an image volume's `pullPolicy`, defaulted from the
/// reference when unset.
fn pull_policy(given: Option<&str>, reference: &str) -> PullPolicy {
    match given.unwrap_or(crate::defaults::pull_policy_for(reference)) {
        "Always" => PullPolicy::Always,
        "Never" => PullPolicy::Never,
        _ => PullPolicy::IfNotPresent,
    }
}

fn file_mode_of(m: i32) -> u32 {
    u32::try_from(m).unwrap_or(DEFAULT_FILE_MODE as u32) & 0o777
}

fn file_mode(m: Option<i32>) -> u32 {
    file_mode_of(m.unwrap_or(DEFAULT_FILE_MODE))
}

fn downward_files(items: Option<&[DownwardAPIVolumeFile]>, mode: u32) -> Vec<FileProjection> {
    items
        .unwrap_or_default()
        .iter()
        .filter_map(|it| {
            // Resolved when the files are written (labels and annotations can change).
            let content = if let Some(f) = &it.field_ref {
                FileContent::FieldRef(f.field_path.clone())
            } else {
                let r = it.resource_field_ref.as_ref()?;
                FileContent::ResourceFieldRef(resource_field_ref(r, ""))
            };
            Some(FileProjection {
                path: it.path.clone(),
                mode: it.mode.map_or(mode, file_mode_of),
                content,
            })
        })
        .collect()
}

fn resource_field_ref(r: &ResourceFieldSelector, own: &str) -> ResourceFieldRef {
    ResourceFieldRef {
        container_name: r
            .container_name
            .clone()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| own.to_string()),
        resource: r.resource.clone(),
        divisor: r
            .divisor
            .as_ref()
            .map(|d| d.0.clone())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "1".into()),
    }
}

fn resources(c: &Container) -> Resources {
    requirements(c.resources.as_ref())
}

fn requirements(r: Option<&k8s_openapi::api::core::v1::ResourceRequirements>) -> Resources {
    let list = |m: Option<
        &BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>,
    >| {
        let get = |k: &str| {
            m.and_then(|m| m.get(k))
                .and_then(|q| parse_quantity(&q.0).ok())
        };
        ResourceList {
            cpu_millis: get("cpu").and_then(|q| q.cpu_millis()),
            memory_bytes: get("memory").and_then(|q| q.bytes()),
            ephemeral_storage_bytes: get("ephemeral-storage").and_then(|q| q.bytes()),
            ephemeral_storage_quantity: get("ephemeral-storage").and_then(|q| q.canonical_bytes()),
        }
    };
    Resources {
        requests: list(r.and_then(|r| r.requests.as_ref())),
        limits: list(r.and_then(|r| r.limits.as_ref())),
    }
}

/// A handler's port as a number, or the name no containerPort of the container declares.
fn resolve_port(port: &IntOrString, ports: &[&ContainerPort]) -> Option<Result<u16, String>> {
    let n = match port {
        IntOrString::Int(n) => *n,
        IntOrString::String(name) => match ports
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
        {
            Some(p) => p.container_port,
            None => return Some(Err(name.clone())),
        },
    };
    u16::try_from(n).ok().map(Ok)
}

fn http_get(h: &HTTPGetAction, ports: &[&ContainerPort]) -> Option<Handler> {
    let port = match resolve_port(&h.port, ports)? {
        Ok(port) => port,
        Err(port) => {
            let action = PortAction::HttpGet;
            return Some(Handler::PortNotFound { action, port });
        }
    };
    Some(Handler::HttpGet {
        host: h.host.clone().filter(|h| !h.is_empty()),
        port,
        path: h
            .path
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| "/".into()),
        scheme: if h.scheme.as_deref() == Some("HTTPS") {
            HttpScheme::Https
        } else {
            HttpScheme::Http
        },
        headers: h
            .http_headers
            .iter()
            .flatten()
            .map(|hd| (hd.name.clone(), hd.value.clone()))
            .collect(),
    })
}

fn probe(p: &KProbe, c: &Container, ports: &[&ContainerPort]) -> Option<Probe> {
    let handler = if let Some(e) = &p.exec {
        // The prober expands `$(VAR)` in exec probes (and only there: hooks run as written).
        Handler::Exec {
            command: crate::env::expand_only_static(
                e.command.as_deref().unwrap_or_default(),
                c.env.as_deref().unwrap_or_default(),
            ),
        }
    } else if let Some(h) = &p.http_get {
        http_get(h, ports)?
    } else if let Some(t) = &p.tcp_socket {
        tcp_socket(t, ports)?
    } else if let Some(g) = &p.grpc {
        Handler::Grpc {
            port: u16::try_from(g.port).ok()?,
            service: g.service.clone().filter(|s| !s.is_empty()),
        }
    } else {
        return None;
    };
    Some(Probe {
        handler,
        initial_delay_seconds: p.initial_delay_seconds.unwrap_or(0),
        timeout_seconds: p.timeout_seconds.unwrap_or(1),
        period_seconds: p.period_seconds.unwrap_or(10),
        success_threshold: p.success_threshold.unwrap_or(1),
        failure_threshold: p.failure_threshold.unwrap_or(3),
        termination_grace_period_seconds: p.termination_grace_period_seconds,
    })
}

fn lifecycle_handler(h: &LifecycleHandler, ports: &[&ContainerPort]) -> Option<Handler> {
    if let Some(e) = &h.exec {
        Some(Handler::Exec {
            command: e.command.clone().unwrap_or_default(),
        })
    } else if let Some(g) = &h.http_get {
        http_get(g, ports)
    } else if let Some(s) = &h.sleep {
        Some(Handler::Sleep { seconds: s.seconds })
    } else if let Some(t) = &h.tcp_socket {
        tcp_socket(t, ports)
    } else {
        None
    }
}

fn tcp_socket(t: &TCPSocketAction, ports: &[&ContainerPort]) -> Option<Handler> {
    Some(match resolve_port(&t.port, ports)? {
        Ok(port) => Handler::TcpSocket {
            host: t.host.clone().filter(|h| !h.is_empty()),
            port,
        },
        Err(port) => Handler::PortNotFound {
            action: PortAction::TcpSocket,
            port,
        },
    })
}

/// A user or group id as the kernel takes it. Validation has refused every value outside the API
/// server's range, so nothing is lost here; the conversion exists so an id that slipped past it
/// could never wrap (4294967296 into 0, root).
fn id(v: Option<i64>) -> Option<u32> {
    v.and_then(|v| u32::try_from(v).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostname_truncation() {
        assert_eq!(hostname(None, "web"), "web");
        assert_eq!(hostname(Some("h"), "web"), "h");
        assert_eq!(hostname(Some(""), "web"), "web");
        let long = format!("{}-.abc", "a".repeat(61));
        assert_eq!(hostname(None, &long), "a".repeat(61));
    }
}
