//! The objects kubectl's typed clients send in protobuf (`kubectl create configmap|secret|
//! namespace|serviceaccount|deployment|job|cronjob|service|role|rolebinding|clusterrole|
//! clusterrolebinding|priorityclass`), turned into their JSON form field by field, as the API
//! server's JSON names them.
//!
//! Each message's fields are taken out as they are read; what is left must be empty, or the
//! body is refused as holding fields read nowhere here (a `kubectl create job --from` copying a
//! template with probes, say), never passed on without them. Go's encoder writes a struct's
//! non-pointer fields even when they hold nothing (`""`, `0`, an empty message), so "empty" is
//! judged on the wire: every field zero or empty, all the way down.

use std::collections::BTreeMap;

use base64::Engine as _;
use k8s_pb::api::apps::v1::Deployment;
use k8s_pb::api::batch::v1::{CronJob, Job, JobSpec, JobTemplateSpec};
use k8s_pb::api::core::v1::{
    ConfigMap, Container, Namespace, PodSpec, PodTemplateSpec, ResourceRequirements, Secret,
    Service, ServiceAccount,
};
use k8s_pb::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_pb::api::scheduling::v1::PriorityClass;
use k8s_pb::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use prost::Message;
use serde_json::{json, Map, Value};

/// The JSON form of a message of `kind` in `api_version`; `Ok(None)` for a kind not read here;
/// `Err` with where fields were left unread.
pub(crate) fn to_json(
    api_version: &str,
    kind: &str,
    raw: &[u8],
) -> Result<Option<Value>, Conversion> {
    let mut r = Reader::default();
    let object = match (api_version, kind) {
        ("v1", "ConfigMap") => {
            let mut cm = r.decode::<ConfigMap>(raw)?;
            let mut o = r.object_meta(cm.metadata.take());
            o.map("data", std::mem::take(&mut cm.data));
            let binary: BTreeMap<String, String> = std::mem::take(&mut cm.binary_data)
                .into_iter()
                .map(|(k, v)| (k, b64(&v)))
                .collect();
            o.map("binaryData", binary);
            o.put("immutable", cm.immutable.take().map(Value::from));
            r.rest("", cm);
            o
        }
        ("v1", "Secret") => {
            let mut s = r.decode::<Secret>(raw)?;
            let mut o = r.object_meta(s.metadata.take());
            let data: BTreeMap<String, String> = std::mem::take(&mut s.data)
                .into_iter()
                .map(|(k, v)| (k, b64(&v)))
                .collect();
            o.map("data", data);
            o.map("stringData", std::mem::take(&mut s.string_data));
            o.text("type", s.r#type.take());
            o.put("immutable", s.immutable.take().map(Value::from));
            r.rest("", s);
            o
        }
        ("v1", "Namespace") => {
            let mut n = r.decode::<Namespace>(raw)?;
            let o = r.object_meta(n.metadata.take());
            // The finalizers every namespace gets, and an empty status.
            n.spec = None;
            n.status = None;
            r.rest("", n);
            o
        }
        ("v1", "ServiceAccount") => {
            let mut sa = r.decode::<ServiceAccount>(raw)?;
            let o = r.object_meta(sa.metadata.take());
            r.rest("", sa);
            o
        }
        ("v1", "Service") => {
            let mut s = r.decode::<Service>(raw)?;
            let mut o = r.object_meta(s.metadata.take());
            let mut spec = s.spec.take().unwrap_or_default();
            let mut js = Obj::default();
            let ports: Vec<Value> = std::mem::take(&mut spec.ports)
                .into_iter()
                .enumerate()
                .map(|(i, mut p)| {
                    let mut jp = Obj::default();
                    jp.text("name", p.name.take());
                    jp.text("protocol", p.protocol.take());
                    jp.put("port", nonzero(p.port.take()));
                    if let Some(mut t) = p.target_port.take() {
                        let target = match t.r#type.take() {
                            Some(1) => t.str_val.take().map(Value::from),
                            _ => nonzero(t.int_val.take()),
                        };
                        jp.put("targetPort", target);
                        r.rest(&format!("spec.ports[{i}].targetPort"), t);
                    }
                    jp.put("nodePort", nonzero(p.node_port.take()));
                    r.rest(&format!("spec.ports[{i}]"), p);
                    jp.done()
                })
                .collect();
            js.list("ports", ports);
            js.map("selector", std::mem::take(&mut spec.selector));
            js.text("type", spec.r#type.take());
            js.text("clusterIP", spec.cluster_ip.take());
            js.text("externalName", spec.external_name.take());
            r.rest("spec", spec);
            s.status = None;
            o.put("spec", Some(js.done()));
            r.rest("", s);
            o
        }
        ("apps/v1", "Deployment") => {
            let mut d = r.decode::<Deployment>(raw)?;
            let mut o = r.object_meta(d.metadata.take());
            let mut spec = d.spec.take().unwrap_or_default();
            let mut js = Obj::default();
            js.put("replicas", spec.replicas.take().map(Value::from));
            js.put(
                "selector",
                r.selector("spec.selector", spec.selector.take()),
            );
            js.put(
                "template",
                Some(r.pod_template("spec.template", spec.template.take())),
            );
            if let Some(mut strategy) = spec.strategy.take() {
                let mut st = Obj::default();
                st.text("type", strategy.r#type.take());
                r.rest("spec.strategy", strategy);
                js.put("strategy", Some(st.done()));
            }
            r.rest("spec", spec);
            d.status = None;
            o.put("spec", Some(js.done()));
            r.rest("", d);
            o
        }
        ("batch/v1", "Job") => {
            let mut j = r.decode::<Job>(raw)?;
            let mut o = r.object_meta(j.metadata.take());
            o.put("spec", Some(r.job_spec("spec", j.spec.take())));
            j.status = None;
            r.rest("", j);
            o
        }
        ("batch/v1", "CronJob") => {
            let mut c = r.decode::<CronJob>(raw)?;
            let mut o = r.object_meta(c.metadata.take());
            let mut spec = c.spec.take().unwrap_or_default();
            let mut js = Obj::default();
            js.text("schedule", spec.schedule.take());
            js.text("timeZone", spec.time_zone.take());
            js.text("concurrencyPolicy", spec.concurrency_policy.take());
            js.put("suspend", spec.suspend.take().map(Value::from));
            js.put(
                "jobTemplate",
                Some(r.job_template("spec.jobTemplate", spec.job_template.take())),
            );
            r.rest("spec", spec);
            c.status = None;
            o.put("spec", Some(js.done()));
            r.rest("", c);
            o
        }
        ("rbac.authorization.k8s.io/v1", "Role") => {
            let mut role = r.decode::<Role>(raw)?;
            let mut o = r.object_meta(role.metadata.take());
            o.list("rules", r.rules(std::mem::take(&mut role.rules)));
            r.rest("", role);
            o
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRole") => {
            let mut role = r.decode::<ClusterRole>(raw)?;
            let mut o = r.object_meta(role.metadata.take());
            o.list("rules", r.rules(std::mem::take(&mut role.rules)));
            r.rest("", role);
            o
        }
        ("rbac.authorization.k8s.io/v1", "RoleBinding") => {
            let mut b = r.decode::<RoleBinding>(raw)?;
            let mut o = r.object_meta(b.metadata.take());
            o.list("subjects", r.subjects(std::mem::take(&mut b.subjects)));
            o.put("roleRef", r.role_ref(b.role_ref.take()));
            r.rest("", b);
            o
        }
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding") => {
            let mut b = r.decode::<ClusterRoleBinding>(raw)?;
            let mut o = r.object_meta(b.metadata.take());
            o.list("subjects", r.subjects(std::mem::take(&mut b.subjects)));
            o.put("roleRef", r.role_ref(b.role_ref.take()));
            r.rest("", b);
            o
        }
        ("scheduling.k8s.io/v1", "PriorityClass") => {
            let mut p = r.decode::<PriorityClass>(raw)?;
            let mut o = r.object_meta(p.metadata.take());
            o.put("value", Some(Value::from(p.value.take().unwrap_or(0))));
            o.put(
                "globalDefault",
                p.global_default.take().filter(|g| *g).map(Value::from),
            );
            o.text("description", p.description.take());
            o.text("preemptionPolicy", p.preemption_policy.take());
            r.rest("", p);
            o
        }
        _ => return Ok(None),
    };
    match r.unread.is_empty() {
        true => Ok(Some(object.done())),
        false => Err(Conversion::Unread(r.unread)),
    }
}

/// Why a body could not be turned into JSON.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Conversion {
    /// It is not a message of its kind.
    Malformed(String),
    /// It sets fields not read here: where (`spec.template.spec.containers[0]`, `""` for the
    /// object itself).
    Unread(Vec<String>),
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A number Go writes whether it was given or not: zero is not given.
fn nonzero(n: Option<i32>) -> Option<Value> {
    n.filter(|n| *n != 0).map(Value::from)
}

/// A JSON object built from what is given: absent, empty strings, maps and lists are left out.
#[derive(Default)]
struct Obj(Map<String, Value>);

impl Obj {
    fn put(&mut self, key: &str, value: Option<Value>) {
        if let Some(v) = value {
            self.0.insert(key.into(), v);
        }
    }
    fn text(&mut self, key: &str, value: Option<String>) {
        self.put(key, value.filter(|v| !v.is_empty()).map(Value::from));
    }
    fn texts(&mut self, key: &str, value: Vec<String>) {
        if !value.is_empty() {
            self.0.insert(key.into(), json!(value));
        }
    }
    fn map(&mut self, key: &str, value: BTreeMap<String, String>) {
        if !value.is_empty() {
            self.0.insert(key.into(), json!(value));
        }
    }
    fn list(&mut self, key: &str, value: Vec<Value>) {
        if !value.is_empty() {
            self.0.insert(key.into(), Value::Array(value));
        }
    }
    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

/// Reads messages, keeping where something was left unread.
#[derive(Default)]
struct Reader {
    unread: Vec<String>,
}

impl Reader {
    fn decode<M: Message + Default>(&mut self, raw: &[u8]) -> Result<M, Conversion> {
        M::decode(raw).map_err(|e| Conversion::Malformed(e.to_string()))
    }

    /// What is left of a message after its fields were taken: nothing, or `at` is noted.
    fn rest<M: Message>(&mut self, at: &str, rest: M) {
        if !zero(&rest.encode_to_vec()) {
            self.unread.push(at.to_string());
        }
    }

    /// An object's metadata, as a new object's: name, generated name, namespace, labels and
    /// annotations (the server's own fields, which Go writes empty, are not the client's).
    fn object_meta(&mut self, meta: Option<ObjectMeta>) -> Obj {
        let mut o = Obj::default();
        o.put("metadata", Some(self.metadata("metadata", meta)));
        o
    }

    fn metadata(&mut self, at: &str, meta: Option<ObjectMeta>) -> Value {
        let mut meta = meta.unwrap_or_default();
        let mut m = Obj::default();
        m.text("name", meta.name.take());
        m.text("generateName", meta.generate_name.take());
        m.text("namespace", meta.namespace.take());
        m.map("labels", std::mem::take(&mut meta.labels));
        m.map("annotations", std::mem::take(&mut meta.annotations));
        // A creation time of zero is Go's empty time, written for every object.
        if meta
            .creation_timestamp
            .as_ref()
            .is_some_and(|t| t.seconds.unwrap_or(0) == 0 && t.nanos.unwrap_or(0) == 0)
        {
            meta.creation_timestamp = None;
        }
        self.rest(at, meta);
        m.done()
    }

    fn selector(&mut self, at: &str, s: Option<LabelSelector>) -> Option<Value> {
        let mut s = s?;
        let mut o = Obj::default();
        o.map("matchLabels", std::mem::take(&mut s.match_labels));
        self.rest(at, s);
        Some(o.done())
    }

    /// A template: its metadata, and its spec as `spec` reads it.
    fn template(
        &mut self,
        at: &str,
        metadata: Option<ObjectMeta>,
        spec: impl FnOnce(&mut Self, &str) -> Value,
    ) -> Value {
        let mut o = Obj::default();
        o.put(
            "metadata",
            Some(self.metadata(&format!("{at}.metadata"), metadata)),
        );
        o.put("spec", Some(spec(self, &format!("{at}.spec"))));
        o.done()
    }

    fn pod_template(&mut self, at: &str, t: Option<PodTemplateSpec>) -> Value {
        let mut t = t.unwrap_or_default();
        let spec = t.spec.take();
        let v = self.template(at, t.metadata.take(), |r, at| r.pod_spec(at, spec));
        self.rest(at, t);
        v
    }

    fn pod_spec(&mut self, at: &str, s: Option<PodSpec>) -> Value {
        let mut s = s.unwrap_or_default();
        let mut o = Obj::default();
        let containers: Vec<Value> = std::mem::take(&mut s.containers)
            .into_iter()
            .enumerate()
            .map(|(i, c)| self.container(&format!("{at}.containers[{i}]"), c))
            .collect();
        o.list("containers", containers);
        o.text("restartPolicy", s.restart_policy.take());
        o.put(
            "terminationGracePeriodSeconds",
            s.termination_grace_period_seconds.take().map(Value::from),
        );
        self.rest(at, s);
        o.done()
    }

    fn container(&mut self, at: &str, mut c: Container) -> Value {
        let mut o = Obj::default();
        o.text("name", c.name.take());
        o.text("image", c.image.take());
        o.texts("command", std::mem::take(&mut c.command));
        o.texts("args", std::mem::take(&mut c.args));
        o.text("workingDir", c.working_dir.take());
        o.text("imagePullPolicy", c.image_pull_policy.take());
        let ports: Vec<Value> = std::mem::take(&mut c.ports)
            .into_iter()
            .enumerate()
            .map(|(i, mut p)| {
                let mut jp = Obj::default();
                jp.text("name", p.name.take());
                jp.put("containerPort", nonzero(p.container_port.take()));
                jp.text("protocol", p.protocol.take());
                self.rest(&format!("{at}.ports[{i}]"), p);
                jp.done()
            })
            .collect();
        o.list("ports", ports);
        let env: Vec<Value> = std::mem::take(&mut c.env)
            .into_iter()
            .enumerate()
            .map(|(i, mut e)| {
                let mut je = Obj::default();
                je.text("name", e.name.take());
                je.put("value", e.value.take().map(Value::from));
                self.rest(&format!("{at}.env[{i}]"), e);
                je.done()
            })
            .collect();
        o.list("env", env);
        if let Some(r) = c.resources.take() {
            let resources = self.resources(&format!("{at}.resources"), r);
            if resources.as_object().is_some_and(|m| !m.is_empty()) {
                o.put("resources", Some(resources));
            }
        }
        self.rest(at, c);
        o.done()
    }

    fn resources(&mut self, at: &str, mut r: ResourceRequirements) -> Value {
        let mut o = Obj::default();
        for (key, list) in [
            ("limits", std::mem::take(&mut r.limits)),
            ("requests", std::mem::take(&mut r.requests)),
        ] {
            let values: BTreeMap<String, String> = list
                .into_iter()
                .map(|(k, q)| (k, q.string.unwrap_or_default()))
                .collect();
            o.map(key, values);
        }
        self.rest(at, r);
        o.done()
    }

    fn job_template(&mut self, at: &str, t: Option<JobTemplateSpec>) -> Value {
        let mut t = t.unwrap_or_default();
        let spec = t.spec.take();
        let v = self.template(at, t.metadata.take(), |r, at| r.job_spec(at, spec));
        self.rest(at, t);
        v
    }

    fn job_spec(&mut self, at: &str, s: Option<JobSpec>) -> Value {
        let mut s = s.unwrap_or_default();
        let mut o = Obj::default();
        o.put("parallelism", s.parallelism.take().map(Value::from));
        o.put("completions", s.completions.take().map(Value::from));
        o.put("backoffLimit", s.backoff_limit.take().map(Value::from));
        o.put(
            "activeDeadlineSeconds",
            s.active_deadline_seconds.take().map(Value::from),
        );
        o.put("suspend", s.suspend.take().map(Value::from));
        o.put(
            "template",
            Some(self.pod_template(&format!("{at}.template"), s.template.take())),
        );
        self.rest(at, s);
        o.done()
    }

    fn rules(&mut self, rules: Vec<PolicyRule>) -> Vec<Value> {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, mut rule)| {
                let mut o = Obj::default();
                o.texts("verbs", std::mem::take(&mut rule.verbs));
                // An empty group names the core group: kept as written.
                if !rule.api_groups.is_empty() {
                    o.put(
                        "apiGroups",
                        Some(json!(std::mem::take(&mut rule.api_groups))),
                    );
                }
                o.texts("resources", std::mem::take(&mut rule.resources));
                o.texts("resourceNames", std::mem::take(&mut rule.resource_names));
                o.texts(
                    "nonResourceURLs",
                    std::mem::take(&mut rule.non_resource_ur_ls),
                );
                self.rest(&format!("rules[{i}]"), rule);
                o.done()
            })
            .collect()
    }

    fn subjects(&mut self, subjects: Vec<Subject>) -> Vec<Value> {
        subjects
            .into_iter()
            .enumerate()
            .map(|(i, mut s)| {
                let mut o = Obj::default();
                o.text("kind", s.kind.take());
                o.text("apiGroup", s.api_group.take());
                o.text("name", s.name.take());
                o.text("namespace", s.namespace.take());
                self.rest(&format!("subjects[{i}]"), s);
                o.done()
            })
            .collect()
    }

    fn role_ref(&mut self, r: Option<RoleRef>) -> Option<Value> {
        let mut r = r?;
        let mut o = Obj::default();
        o.text("apiGroup", r.api_group.take());
        o.text("kind", r.kind.take());
        o.text("name", r.name.take());
        self.rest("roleRef", r);
        Some(o.done())
    }
}

/// Whether an encoded message holds nothing: each field a zero number, an empty string or
/// list, or a message that holds nothing itself.
fn zero(mut wire: &[u8]) -> bool {
    fn varint(b: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&byte, rest) = b.split_first()?;
            *b = rest;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    while !wire.is_empty() {
        let Some(key) = varint(&mut wire) else {
            return false;
        };
        let empty = match key & 7 {
            0 => varint(&mut wire) == Some(0),
            1 | 5 => {
                let n = if key & 7 == 1 { 8 } else { 4 };
                let Some((value, rest)) = wire.split_at_checked(n) else {
                    return false;
                };
                wire = rest;
                value.iter().all(|b| *b == 0)
            }
            2 => {
                let Some(len) = varint(&mut wire).and_then(|l| usize::try_from(l).ok()) else {
                    return false;
                };
                let Some((value, rest)) = wire.split_at_checked(len) else {
                    return false;
                };
                wire = rest;
                value.is_empty() || zero(value)
            }
            _ => false,
        };
        if !empty {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::apps::v1::{DeploymentSpec, DeploymentStrategy};
    use k8s_pb::api::core::v1::{ContainerPort, Probe};

    fn meta(name: &str) -> Option<ObjectMeta> {
        Some(ObjectMeta {
            name: Some(name.into()),
            // Go writes these even when empty.
            namespace: Some(String::new()),
            creation_timestamp: Some(Default::default()),
            labels: [("app".to_string(), name.to_string())].into(),
            ..Default::default()
        })
    }

    /// What `kubectl create deployment web --image=img --port=80 -- sleep 9` sends.
    fn deployment() -> Deployment {
        let labels: BTreeMap<String, String> = [("app".to_string(), "web".to_string())].into();
        Deployment {
            metadata: meta("web"),
            spec: Some(DeploymentSpec {
                replicas: Some(1),
                selector: Some(LabelSelector {
                    match_labels: labels.clone(),
                    ..Default::default()
                }),
                template: Some(PodTemplateSpec {
                    metadata: Some(ObjectMeta {
                        labels,
                        creation_timestamp: Some(Default::default()),
                        ..Default::default()
                    }),
                    spec: Some(PodSpec {
                        containers: vec![Container {
                            name: Some("img".into()),
                            image: Some("img".into()),
                            command: vec!["sleep".into(), "9".into()],
                            working_dir: Some(String::new()),
                            ports: vec![ContainerPort {
                                container_port: Some(80),
                                host_port: Some(0),
                                ..Default::default()
                            }],
                            resources: Some(Default::default()),
                            ..Default::default()
                        }],
                        ..Default::default()
                    }),
                }),
                strategy: Some(DeploymentStrategy::default()),
                min_ready_seconds: Some(0),
                ..Default::default()
            }),
            status: Some(Default::default()),
        }
    }

    #[test]
    fn what_kubectl_create_sends_reads_as_its_json() {
        let v = to_json("apps/v1", "Deployment", &deployment().encode_to_vec())
            .expect("read")
            .expect("a kind read here");
        assert_eq!(
            v,
            json!({
                "metadata": {"name": "web", "labels": {"app": "web"}},
                "spec": {
                    "replicas": 1,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": {"app": "web"}},
                        "spec": {"containers": [{"name": "img", "image": "img", "command": ["sleep", "9"],
                                                 "ports": [{"containerPort": 80}]}]}
                    },
                    "strategy": {}
                }
            })
        );
        let binding = RoleBinding {
            metadata: meta("read"),
            subjects: vec![Subject {
                kind: Some("ServiceAccount".into()),
                name: Some("app".into()),
                namespace: Some("default".into()),
                api_group: Some(String::new()),
            }],
            role_ref: Some(RoleRef {
                api_group: Some("rbac.authorization.k8s.io".into()),
                kind: Some("Role".into()),
                name: Some("reader".into()),
            }),
        };
        let v = to_json(
            "rbac.authorization.k8s.io/v1",
            "RoleBinding",
            &binding.encode_to_vec(),
        )
        .expect("read")
        .expect("a kind read here");
        assert_eq!(
            v["subjects"],
            json!([{"kind": "ServiceAccount", "name": "app", "namespace": "default"}])
        );
        assert_eq!(v["roleRef"]["name"], "reader");
        assert_eq!(to_json("v1", "Pod", &[]), Ok(None));
    }

    #[test]
    fn a_field_not_read_here_refuses_the_body_and_says_where() {
        let mut d = deployment();
        if let Some(c) = d
            .spec
            .as_mut()
            .and_then(|s| s.template.as_mut())
            .and_then(|t| t.spec.as_mut())
            .map(|s| &mut s.containers[0])
        {
            c.liveness_probe = Some(Probe {
                period_seconds: Some(5),
                ..Default::default()
            });
        }
        assert_eq!(
            to_json("apps/v1", "Deployment", &d.encode_to_vec()),
            Err(Conversion::Unread(vec![
                "spec.template.spec.containers[0]".into()
            ]))
        );
        let mut d = deployment();
        if let Some(s) = d.spec.as_mut() {
            s.paused = Some(true);
        }
        assert_eq!(
            to_json("apps/v1", "Deployment", &d.encode_to_vec()),
            Err(Conversion::Unread(vec!["spec".into()]))
        );
        assert!(matches!(
            to_json("apps/v1", "Deployment", &[0xff, 0xff]),
            Err(Conversion::Malformed(_))
        ));
    }

    #[test]
    fn emptiness_is_judged_on_the_wire() {
        assert!(zero(&[]));
        // Field 1 = 0; field 2 = ""; field 3 = a message with field 1 = 0.
        assert!(zero(&[0x08, 0x00, 0x12, 0x00, 0x1a, 0x02, 0x08, 0x00]));
        assert!(!zero(&[0x08, 0x01]));
        assert!(!zero(&[0x12, 0x01, b'x']));
        assert!(!zero(&[0x12, 0x05]));
    }
}
