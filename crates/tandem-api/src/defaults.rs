//! The API server's defaulting (`pkg/apis/core/v1/defaults.go`), applied to the Pod object so that
//! the object tandem shows and the plan it runs agree.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{
    Container, HTTPGetAction, Lifecycle, LifecycleHandler, Pod, PodSecurityContext, PodSpec, Probe,
    ResourceRequirements, Volume,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

use crate::quantity::parse_quantity;

pub(crate) const DEFAULT_TGPS: i64 = 30;
pub(crate) const DEFAULT_FILE_MODE: i32 = 0o644;
pub(crate) const TERMINATION_MESSAGE_PATH: &str = "/dev/termination-log";

fn set<T>(slot: &mut Option<T>, value: T) {
    if slot.is_none() {
        *slot = Some(value);
    }
}

fn set_str(slot: &mut Option<String>, value: &str) {
    if slot.as_deref().is_none_or(str::is_empty) {
        *slot = Some(value.to_string());
    }
}

/// Fills what the API server and the kubelet would fill in a Pod: its spec's defaults, and what
/// only a Pod gets (`SetDefaults_Pod`, the ServiceAccount admission plugin, the scheduler).
pub(crate) fn apply(pod: &mut Pod, namespace: &str, uid: &str, node_name: &str) {
    set_str(&mut pod.metadata.namespace, namespace);
    set_str(&mut pod.metadata.uid, uid);
    let spec = pod.spec.get_or_insert_with(PodSpec::default);
    pod_spec(spec);
    if spec
        .service_account_name
        .as_deref()
        .is_none_or(str::is_empty)
    {
        let legacy = spec.service_account.clone().filter(|s| !s.is_empty());
        spec.service_account_name = Some(legacy.unwrap_or_else(|| "default".into()));
    }
    set(&mut spec.enable_service_links, true);
    if !node_name.is_empty() {
        set_str(&mut spec.node_name, node_name);
    }
    // Requests default to limits for each resource with a limit and no request: on a Pod only,
    // never on a template (upstream says so where it does it).
    for c in spec.init_containers.iter_mut().flatten() {
        requests_from_limits(c);
    }
    for c in &mut spec.containers {
        requests_from_limits(c);
    }
}

/// The defaults of a pod spec wherever it is (`SetDefaults_PodSpec` and those of its
/// containers, probes and volumes): a Pod's, and a workload's template, stored with these and
/// no more, as the API server stores it.
pub(crate) fn pod_spec(spec: &mut PodSpec) {
    set_str(&mut spec.restart_policy, "Always");
    set(&mut spec.termination_grace_period_seconds, DEFAULT_TGPS);
    set_str(&mut spec.dns_policy, "ClusterFirst");
    set_str(&mut spec.scheduler_name, "default-scheduler");
    set(&mut spec.security_context, PodSecurityContext::default());
    for c in spec.init_containers.iter_mut().flatten() {
        container(c);
    }
    for c in &mut spec.containers {
        container(c);
    }
    for v in spec.volumes.iter_mut().flatten() {
        volume(v);
    }
    if let Some(r) = &mut spec.resources {
        requirements(r);
    }
    resource_list(&mut spec.overhead);
    // On the host's network a container's port is the host's port (`SetDefaults_PodSpec`).
    if spec.host_network == Some(true) {
        let containers = spec.init_containers.iter_mut().flatten();
        for c in containers.chain(spec.containers.iter_mut()) {
            for port in c.ports.iter_mut().flatten() {
                zero_as_unset(&mut port.host_port, port.container_port);
            }
        }
    }
}

fn requests_from_limits(c: &mut Container) {
    if let Some(res) = &mut c.resources {
        if let Some(limits) = &res.limits {
            let requests = res.requests.get_or_insert_with(Default::default);
            for (k, v) in limits {
                requests.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
    }
}

/// `imagePullPolicy`: Always for `:latest` or no tag (unless pinned by digest), else IfNotPresent.
pub(crate) fn pull_policy_for(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        Some((_, tag)) if tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

fn container(c: &mut Container) {
    let policy = pull_policy_for(c.image.as_deref().unwrap_or_default());
    set_str(&mut c.image_pull_policy, policy);
    set_str(&mut c.termination_message_path, TERMINATION_MESSAGE_PATH);
    set_str(&mut c.termination_message_policy, "File");
    for p in c.ports.iter_mut().flatten() {
        set_str(&mut p.protocol, "TCP");
    }
    for p in [
        &mut c.liveness_probe,
        &mut c.readiness_probe,
        &mut c.startup_probe,
    ]
    .into_iter()
    .flatten()
    {
        probe(p);
    }
    if let Some(Lifecycle {
        post_start,
        pre_stop,
        ..
    }) = &mut c.lifecycle
    {
        for h in [post_start, pre_stop].into_iter().flatten() {
            handler(h);
        }
    }
    for e in c.env.iter_mut().flatten() {
        if let Some(f) = e.value_from.as_mut().and_then(|v| v.field_ref.as_mut()) {
            set_str(&mut f.api_version, "v1");
        }
    }
    if let Some(r) = &mut c.resources {
        requirements(r);
    }
}

fn requirements(r: &mut ResourceRequirements) {
    for list in [&mut r.requests, &mut r.limits] {
        resource_list(list);
    }
}

/// Quantities finer than a thousandth are rounded up to one (`SetDefaults_ResourceList`):
/// `1n` becomes `1m`. One that cannot parse is left for validation to name.
fn resource_list(list: &mut Option<BTreeMap<String, Quantity>>) {
    for q in list.iter_mut().flatten().map(|(_, q)| q) {
        if let Some(rounded) = parse_quantity(&q.0).ok().and_then(|v| v.rounded_to_milli()) {
            q.0 = rounded;
        }
    }
}

fn zero_as_unset(slot: &mut Option<i32>, value: i32) {
    if slot.is_none_or(|v| v == 0) {
        *slot = Some(value);
    }
}

fn probe(p: &mut Probe) {
    zero_as_unset(&mut p.timeout_seconds, 1);
    zero_as_unset(&mut p.period_seconds, 10);
    zero_as_unset(&mut p.success_threshold, 1);
    zero_as_unset(&mut p.failure_threshold, 3);
    if let Some(h) = &mut p.http_get {
        http_get(h);
    }
    if let Some(g) = &mut p.grpc {
        set_str(&mut g.service, "");
    }
}

fn handler(h: &mut LifecycleHandler) {
    if let Some(g) = &mut h.http_get {
        http_get(g);
    }
}

fn http_get(h: &mut HTTPGetAction) {
    set_str(&mut h.path, "/");
    set_str(&mut h.scheme, "HTTP");
}

fn volume(v: &mut Volume) {
    // A volume with no source is an emptyDir (`SetDefaults_Volume`).
    let sourceless = serde_json::to_value(&*v)
        .ok()
        .and_then(|j| j.as_object().map(|m| m.keys().all(|k| k == "name")))
        .unwrap_or(false);
    if sourceless {
        v.empty_dir = Some(Default::default());
    }
    if let Some(cm) = &mut v.config_map {
        set(&mut cm.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(s) = &mut v.secret {
        set(&mut s.default_mode, DEFAULT_FILE_MODE);
    }
    if let Some(d) = &mut v.downward_api {
        set(&mut d.default_mode, DEFAULT_FILE_MODE);
        for item in d.items.iter_mut().flatten() {
            if let Some(f) = &mut item.field_ref {
                set_str(&mut f.api_version, "v1");
            }
        }
    }
    if let Some(p) = &mut v.projected {
        set(&mut p.default_mode, DEFAULT_FILE_MODE);
        for source in p.sources.iter_mut().flatten() {
            let items = source
                .downward_api
                .iter_mut()
                .flat_map(|d| d.items.iter_mut().flatten());
            for f in items.filter_map(|i| i.field_ref.as_mut()) {
                set_str(&mut f.api_version, "v1");
            }
            if let Some(t) = &mut source.service_account_token {
                set(&mut t.expiration_seconds, 3600);
            }
        }
    }
    if let Some(i) = &mut v.image {
        // As a container's imagePullPolicy (`SetDefaults_ImageVolumeSource`).
        let policy = pull_policy_for(i.reference.as_deref().unwrap_or_default());
        set_str(&mut i.pull_policy, policy);
    }
    // The disks an empty directory stands in for keep the API server's defaults, as stored.
    if let Some(d) = &mut v.azure_disk {
        set_str(&mut d.caching_mode, "ReadWrite");
        set_str(&mut d.fs_type, "ext4");
        set_str(&mut d.kind, "Shared");
        set(&mut d.read_only, false);
    }
    if let Some(i) = &mut v.iscsi {
        set_str(&mut i.iscsi_interface, "default");
    }
    if let Some(r) = &mut v.rbd {
        set_str(&mut r.pool, "rbd");
        set_str(&mut r.user, "admin");
        set_str(&mut r.keyring, "/etc/ceph/keyring");
    }
    if let Some(s) = &mut v.scale_io {
        set_str(&mut s.storage_mode, "ThinProvisioned");
        set_str(&mut s.fs_type, "xfs");
    }
    if let Some(spec) = v
        .ephemeral
        .as_mut()
        .and_then(|e| e.volume_claim_template.as_mut())
    {
        set_str(&mut spec.spec.volume_mode, "Filesystem");
    }
    if let Some(h) = &mut v.host_path {
        set(&mut h.type_, String::new());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy() {
        for (image, want) in [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.27", "IfNotPresent"),
            ("localhost:5000/app", "Always"),
            ("localhost:5000/app:v2", "IfNotPresent"),
            ("nginx@sha256:abcd", "IfNotPresent"),
            ("nginx:latest@sha256:abcd", "IfNotPresent"),
        ] {
            assert_eq!(pull_policy_for(image), want, "{image}");
        }
    }
}
