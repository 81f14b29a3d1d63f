//! A pod as kubectl 1.33's `describePod` lays it out.

use k8s_openapi::api::core::v1::{Container, Pod};
use tandem_api::plan::PodPlan;
use tandem_kubelet::events::PodEvent;

use super::layout::{
    age, containers, events, list, multiline, rfc1123z, tolerations, topology_spread, volumes,
    EnvValues, EventRow,
};
use crate::output::tabwriter::TabWriter;

/// A pod as kubectl describes it; `now_us` dates the ages.
pub fn describe_pod(
    pod: &Pod,
    plan: Option<&PodPlan>,
    pod_events: &[PodEvent],
    now_us: i64,
) -> String {
    let mut w = TabWriter::default();
    let meta = &pod.metadata;
    let spec = pod.spec.clone().unwrap_or_default();
    let status = pod.status.clone().unwrap_or_default();
    let line = |w: &mut TabWriter, level: usize, text: String| {
        w.write(&"  ".repeat(level));
        w.write(&text);
        w.write("\n");
    };
    line(
        &mut w,
        0,
        format!("Name:\t{}", meta.name.as_deref().unwrap_or_default()),
    );
    line(
        &mut w,
        0,
        format!(
            "Namespace:\t{}",
            meta.namespace.as_deref().unwrap_or("default")
        ),
    );
    if let Some(p) = spec.priority {
        line(&mut w, 0, format!("Priority:\t{p}"));
    }
    if let Some(p) = spec
        .priority_class_name
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        line(&mut w, 0, format!("Priority Class Name:\t{p}"));
    }
    if let Some(r) = spec.runtime_class_name.as_deref().filter(|r| !r.is_empty()) {
        line(&mut w, 0, format!("Runtime Class Name:\t{r}"));
    }
    if let Some(sa) = spec
        .service_account_name
        .as_deref()
        .filter(|s| !s.is_empty())
    {
        line(&mut w, 0, format!("Service Account:\t{sa}"));
    }
    match spec.node_name.as_deref().filter(|n| !n.is_empty()) {
        Some(node) => line(
            &mut w,
            0,
            format!(
                "Node:\t{node}/{}",
                status.host_ip.as_deref().unwrap_or_default()
            ),
        ),
        None => line(&mut w, 0, "Node:\t<none>".into()),
    }
    if let Some(t) = &status.start_time {
        line(&mut w, 0, format!("Start Time:\t{}", rfc1123z(t)));
    }
    multiline(&mut w, "Labels", meta.labels.as_ref(), false);
    multiline(&mut w, "Annotations", meta.annotations.as_ref(), true);
    let phase = status.phase.clone().unwrap_or_default();
    match (&meta.deletion_timestamp, phase.as_str()) {
        (Some(t), p) if p != "Failed" && p != "Succeeded" => {
            line(
                &mut w,
                0,
                format!("Status:\tTerminating (lasts {})", age(t, now_us)),
            );
            line(
                &mut w,
                0,
                format!(
                    "Termination Grace Period:\t{}s",
                    meta.deletion_grace_period_seconds.unwrap_or_default()
                ),
            );
        }
        _ => line(&mut w, 0, format!("Status:\t{phase}")),
    }
    if let Some(r) = status.reason.as_deref().filter(|r| !r.is_empty()) {
        line(&mut w, 0, format!("Reason:\t{r}"));
    }
    if let Some(m) = status.message.as_deref().filter(|m| !m.is_empty()) {
        line(&mut w, 0, format!("Message:\t{m}"));
    }
    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|s| s.seccomp_profile.as_ref())
    {
        line(&mut w, 0, format!("SeccompProfile:\t{}", profile.type_));
        if let Some(l) = &profile.localhost_profile {
            line(&mut w, 0, format!("LocalhostProfile:\t{l}"));
        }
    }
    line(
        &mut w,
        0,
        format!("IP:\t{}", status.pod_ip.as_deref().unwrap_or_default()),
    );
    match status.pod_ips.as_deref().filter(|ips| !ips.is_empty()) {
        None => line(&mut w, 0, "IPs:\t<none>".into()),
        Some(ips) => {
            line(&mut w, 0, "IPs:".into());
            for ip in ips {
                line(&mut w, 1, format!("IP:\t{}", ip.ip));
            }
        }
    }
    if let Some(owner) = meta
        .owner_references
        .iter()
        .flatten()
        .find(|o| o.controller == Some(true))
    {
        line(
            &mut w,
            0,
            format!("Controlled By:\t{}/{}", owner.kind, owner.name),
        );
    }
    let env_of = EnvValues { pod, plan };
    if let Some(inits) = spec.init_containers.as_ref().filter(|i| !i.is_empty()) {
        containers(
            &mut w,
            "Init Containers",
            inits,
            status
                .init_container_statuses
                .as_deref()
                .unwrap_or_default(),
            &env_of,
            "",
        );
    }
    containers(
        &mut w,
        "Containers",
        &spec.containers,
        status.container_statuses.as_deref().unwrap_or_default(),
        &env_of,
        "",
    );
    // kubectl describes them as containers (the same fields, but the target).
    let ephemeral: Vec<Container> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .filter_map(|e| {
            let mut v = serde_json::to_value(e).ok()?;
            v.as_object_mut()?.remove("targetContainerName");
            serde_json::from_value(v).ok()
        })
        .collect();
    if !ephemeral.is_empty() {
        containers(
            &mut w,
            "Ephemeral Containers",
            &ephemeral,
            status
                .ephemeral_container_statuses
                .as_deref()
                .unwrap_or_default(),
            &env_of,
            "",
        );
    }
    let conditions = status.conditions.clone().unwrap_or_default();
    if let Some(gates) = spec.readiness_gates.as_ref().filter(|g| !g.is_empty()) {
        line(&mut w, 0, "Readiness Gates:".into());
        line(&mut w, 1, "Type\tStatus".into());
        for g in gates {
            let s = conditions
                .iter()
                .find(|c| c.type_ == g.condition_type)
                .map_or("<none>", |c| c.status.as_str());
            line(&mut w, 1, format!("{} \t{s} ", g.condition_type));
        }
    }
    if !conditions.is_empty() {
        line(&mut w, 0, "Conditions:".into());
        line(&mut w, 1, "Type\tStatus".into());
        for c in &conditions {
            line(&mut w, 1, format!("{} \t{} ", c.type_, c.status));
        }
    }
    volumes(&mut w, spec.volumes.as_deref().unwrap_or_default(), "");
    line(
        &mut w,
        0,
        format!(
            "QoS Class:\t{}",
            status.qos_class.as_deref().unwrap_or_default()
        ),
    );
    multiline(&mut w, "Node-Selectors", spec.node_selector.as_ref(), false);
    list(&mut w, "Tolerations", &tolerations(&spec));
    topology_spread(&mut w, &spec, "");
    w.flush();
    let rows: Vec<EventRow> = pod_events
        .iter()
        .map(|e| EventRow {
            time_us: e.time_us,
            kind: format!("{:?}", e.kind),
            reason: e.reason.to_string(),
            from: "kubelet".into(),
            message: e.message.clone(),
            about: e.container.clone(),
        })
        .collect();
    events(&mut w, &rows, now_us);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    /// A crash-looping pod with a native sidecar, laid out line for line as kubectl 1.33's
    /// `describePod` writes it: tabwriter columns per run of lines (a container without a
    /// command has one run from `Container ID:` to `Mounts:`, so all of it is padded to
    /// `Restart Count:`), condition cells keeping their trailing space, flushed before Events.
    #[test]
    fn a_pod_reads_as_kubectl_describes_it() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {
                "initContainers": [{"name": "proxy", "image": "busybox", "restartPolicy": "Always",
                    "ports": [{"containerPort": 15001, "protocol": "TCP"}]}],
                "containers": [{"name": "app", "image": "busybox", "command": ["sh", "-c", "exit 1"],
                    "env": [{"name": "MODE", "value": "a\nb"}],
                    "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}]}],
                "volumes": [{"name": "data", "emptyDir": {}}]
            },
            "status": {
                "phase": "Running", "podIP": "10.87.0.5", "podIPs": [{"ip": "10.87.0.5"}],
                "qosClass": "BestEffort",
                "conditions": [{"type": "Ready", "status": "False"}],
                "initContainerStatuses": [{"name": "proxy", "image": "busybox", "imageID": "", "ready": true,
                    "restartCount": 0, "state": {"running": {"startedAt": "2026-12-05T10:00:00Z"}}}],
                "containerStatuses": [{"name": "app", "image": "busybox", "imageID": "", "ready": false,
                    "restartCount": 3,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                        "startedAt": "2026-12-05T10:00:40Z", "finishedAt": "2026-12-05T10:00:41Z"}}}]
            }
        }))
        .expect("a pod");
        let event = |secs: i64, kind: &str, reason: &str, message: &str| -> PodEvent {
            serde_json::from_value(serde_json::json!({
                "time_us": (1_796_551_200 + secs) * 1_000_000,
                "type": kind, "reason": reason, "message": message
            }))
            .expect("an event")
        };
        let events = vec![
            event(0, "Normal", "Started", "Started container proxy"),
            event(
                10,
                "Warning",
                "BackOff",
                "Back-off restarting failed container app",
            ),
            event(
                30,
                "Warning",
                "BackOff",
                "Back-off restarting failed container app",
            ),
        ];
        let now = (1_796_551_200 + 60) * 1_000_000;
        let text = describe_pod(&pod, None, &events, now);
        let want = "\
Name:         web
Namespace:    default
Node:         <none>
Labels:       app=web
Annotations:  <none>
Status:       Running
IP:           10.87.0.5
IPs:
  IP:  10.87.0.5
Init Containers:
  proxy:
    Container ID:   
    Image:          busybox
    Image ID:       
    Port:           15001/TCP
    Host Port:      0/TCP
    State:          Running
      Started:      Sat, 05 Dec 2026 10:00:00 +0000
    Ready:          True
    Restart Count:  0
    Environment:    <none>
    Mounts:         <none>
Containers:
  app:
    Container ID:  
    Image:         busybox
    Image ID:      
    Port:          <none>
    Host Port:     <none>
    Command:
      sh
      -c
      exit 1
    State:          Waiting
      Reason:       CrashLoopBackOff
    Last State:     Terminated
      Reason:       Error
      Exit Code:    1
      Started:      Sat, 05 Dec 2026 10:00:40 +0000
      Finished:     Sat, 05 Dec 2026 10:00:41 +0000
    Ready:          False
    Restart Count:  3
    Environment:
      MODE:  a
             b
    Mounts:
      /data from data (ro)
Conditions:
  Type    Status
  Ready   False 
Volumes:
  data:
    Type:        EmptyDir (a temporary directory that shares a pod's lifetime)
    Medium:      
    SizeLimit:   <unset>
QoS Class:       BestEffort
Node-Selectors:  <none>
Tolerations:     <none>
Events:
  Type     Reason   Age                From     Message
  ----     ------   ----               ----     -------
  Normal   Started  60s                kubelet  Started container proxy
  Warning  BackOff  30s (x2 over 50s)  kubelet  Back-off restarting failed container app
";
        // Times are printed in this machine's zone, as kubectl prints them; elsewhere than in
        // UTC, only those lines differ.
        let utc =
            rfc1123z(&Time("2026-12-05T10:00:00Z".parse().expect("a time"))).ends_with("+0000");
        let strip = |t: &str| -> Vec<String> {
            t.lines()
                .filter(|l| utc || !(l.contains("Started:") || l.contains("Finished:")))
                .map(str::to_string)
                .collect()
        };
        assert_eq!(strip(&text), strip(want));
    }
}
