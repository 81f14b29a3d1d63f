//! `tandem debug POD --image IMAGE [-c NAME] [--target CONTAINER] [-i] [-t] [-- COMMAND...]`
//! (kubectl debug): an ephemeral container added to a running pod, in its network, IPC and UTS
//! namespaces (and, with `--target`, in that container's process namespace, so its processes
//! and their `/proc/PID/root` are seen), started once and never restarted; with `-i`, attached
//! to at once.
//!
//! The container is judged as the API server judges an update of `pods/ephemeralcontainers`
//! (`tandem_api::ephemeral`), planned as a regular container of the same pod would be, and
//! handed to the pod's supervisor, whose engine starts it. The API's `pods/ephemeralcontainers`
//! goes through [`planned`] and [`add`] as well.

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{EphemeralContainer, Pod};
use serde_json::{json, Value};
use tandem_api::plan::{ContainerPlan, ContainerRole};
use tandem_supervisor::proto::Request;
use tandem_supervisor::statedir::{PodDir, Store};

use super::attach::{attach_to, Asked};
use super::{existing_pod, object_store, pod_name, read_pod};
use crate::cli::DebugArgs;
use crate::errors::hint;

/// How long `debug -i` waits for the new container to run before attaching.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The plan of ephemeral container `container` (number `index` of the pod's list), added to
/// `pod` (its JSON): validated, defaulted and planned as the pod's only regular container would
/// be, with the ConfigMaps and Secrets kept in its namespace; findings name its own fields.
pub fn planned(
    store: &Store,
    pod: &Value,
    container: &Value,
    index: usize,
    unknown_fields: tandem_api::UnknownFields,
) -> Result<ContainerPlan, tandem_api::diag::Diagnostics> {
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let own = |mut diags: tandem_api::diag::Diagnostics| {
        for d in &mut diags.0 {
            if let Some(rest) = d.field.strip_prefix("spec.containers[0]") {
                d.field = format!("spec.ephemeralContainers[{index}]{rest}");
            }
        }
        diags
    };
    let mut loaded = object_store::load_with_references(
        store,
        namespace,
        format!("pods/{name}/ephemeralcontainers"),
        &tandem_api::ephemeral::as_pod(pod, container),
        unknown_fields,
        // Ephemeral containers get no token mount: the admission plugin leaves them as given.
        None,
    )
    .map_err(own)?;
    let mut plan = loaded
        .pods
        .pop()
        .and_then(|p| p.plan.containers.into_iter().next())
        .ok_or_else(|| own(tandem_api::diag::Diagnostics::default()))?;
    plan.role = ContainerRole::Ephemeral;
    plan.restart_policy = None;
    plan.target_container = container["targetContainerName"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(str::to_string);
    Ok(plan)
}

/// Hands ephemeral container `plan` (with its API spec) to the pod's supervisor: `Ok(Err(why))`
/// when the pod refuses it.
pub fn add(
    dir: &PodDir,
    name: &str,
    plan: ContainerPlan,
    spec: EphemeralContainer,
) -> anyhow::Result<Result<(), String>> {
    if dir.live_supervisor().is_none() {
        return Ok(Err(format!("pod {name} is not running")));
    }
    let request = Request::AddEphemeral {
        container: Box::new(plan),
        spec: Box::new(spec),
    };
    Ok(super::supervisor_answer(dir, name, &request)?
        .map_err(|why| why.unwrap_or_else(|| "the pod is ending".into())))
}

/// `debugger-` and five characters of the generated-name alphabet, as kubectl names them.
fn generated() -> String {
    let uid = super::start::random_uid();
    let mut bytes = uid.bytes().filter(u8::is_ascii_hexdigit).cycle();
    tandem_controllers::naming::generated_name("debugger-", &mut || {
        u32::from(bytes.next().unwrap_or(b'0')) * 7
    })
}

pub fn debug(store: &Store, a: DebugArgs) -> anyhow::Result<i32> {
    let name = pod_name(&a.pod);
    let dir = existing_pod(store, &a.namespace, name)?;
    let pod = read_pod(&dir)?;
    if dir.live_supervisor().is_none() {
        let phase = pod.status.as_ref().and_then(|s| s.phase.clone());
        return Err(hint(
            format!(
                "pod {name} is not running (phase {}); no container can be added to it",
                phase.unwrap_or_else(|| "Unknown".into())
            ),
            format!("`tandem get pod {name}` shows how it ended"),
        ));
    }
    let container = match a.container.clone() {
        Some(c) => c,
        None => {
            let c = generated();
            if !a.quiet {
                eprintln!("Defaulting debug container name to {c}.");
            }
            c
        }
    };
    let mut spec = json!({
        "name": container,
        "image": a.image,
        "stdin": a.stdin,
        "tty": a.tty,
        "terminationMessagePolicy": "File",
    });
    if let Some(policy) = &a.image_pull_policy {
        spec["imagePullPolicy"] = json!(policy);
    }
    if !a.command.is_empty() {
        spec[if a.arguments_only { "args" } else { "command" }] = json!(a.command);
    }
    if let Some(target) = &a.target {
        spec["targetContainerName"] = json!(target);
    }
    let old = serde_json::to_value(&pod)?;
    let mut new = old.clone();
    let list = new["spec"]["ephemeralContainers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let index = list.len();
    new["spec"]["ephemeralContainers"] = Value::Array(list.into_iter().chain([spec]).collect());
    let added = tandem_api::ephemeral::additions(&old, &new).map_err(|r| {
        let (tandem_api::updates::Refusal::Forbidden { field, message }
        | tandem_api::updates::Refusal::NotSupported { field, message }) = r;
        hint(
            format!("Pod \"{name}\" is invalid: {field}: {message}"),
            "`tandem get pod NAME -o yaml` lists its containers",
        )
    })?;
    let Some(spec) = added.into_iter().next() else {
        return Err(hint("no ephemeral container to add", "give --image"));
    };
    let plan = planned(
        store,
        &old,
        &spec,
        index,
        tandem_api::UnknownFields::default(),
    )
    .map_err(|d| {
        hint(
            format!("Pod \"{name}\" is invalid: {d}"),
            "see `tandem debug --help`",
        )
    })?;
    let typed: EphemeralContainer =
        serde_json::from_value(spec).context("the ephemeral container does not read back")?;
    if let Err(why) = add(&dir, name, plan, typed)? {
        return Err(hint(
            format!("cannot add ephemeral container {container} to pod {name}: {why}"),
            format!("`tandem get pod {name}` shows its state"),
        ));
    }
    if !a.stdin {
        return Ok(0);
    }
    let pod = wait_running(&dir, name, &container)?;
    let asked = Asked {
        stdin: a.stdin,
        tty: a.tty,
        quiet: a.quiet,
    };
    attach_to(&dir, &pod, &container, &asked)
}

/// Waits until `container` runs, as `kubectl debug -i` waits before it attaches; the pod as
/// it is then.
fn wait_running(dir: &PodDir, name: &str, container: &str) -> anyhow::Result<Pod> {
    let deadline = std::time::Instant::now() + START_TIMEOUT;
    loop {
        let pod = read_pod(dir)?;
        let state = pod
            .status
            .as_ref()
            .and_then(|s| s.ephemeral_container_statuses.as_ref())
            .and_then(|all| all.iter().find(|s| s.name == container))
            .and_then(|s| s.state.clone());
        match state {
            Some(s) if s.running.is_some() => return Ok(pod),
            Some(s) if s.terminated.is_some() => {
                return Err(hint(
                    format!("ephemeral container {container} of pod {name} has already ended"),
                    format!("`tandem logs {name} -c {container}` shows what it printed"),
                ))
            }
            _ => {}
        }
        if std::time::Instant::now() >= deadline || dir.live_supervisor().is_none() {
            let why = state
                .and_then(|s| s.waiting)
                .and_then(|w| w.reason)
                .unwrap_or_else(|| "not started".into());
            return Err(hint(
                format!("ephemeral container {container} of pod {name} is not running ({why})"),
                format!("`tandem describe pod {name}` shows its events"),
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}
