//! Starting one pod in the store, for `run` and for the workload controllers alike: the pod
//! object and plan written into a staging directory, renamed into place (the claim on the name),
//! then its supervisor started and waited for until it says the pod's sandbox is up.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};

use anyhow::Context;
use tandem_image::NamedAuth;
use tandem_supervisor::network::NetworkRequest;
use tandem_supervisor::statedir::{write_atomic, PodDir, Store};

use crate::errors::hint;

/// A fresh pod uid (the kernel's random UUID).
pub(crate) fn random_uid() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/uuid")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| {
            format!(
                "{:032x}",
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_nanos())
                    .unwrap_or(0)
            )
        })
}

/// The node name pods get: this machine's hostname.
pub(crate) fn node_name() -> String {
    nix::unistd::gethostname()
        .ok()
        .and_then(|h| h.into_string().ok())
        .unwrap_or_else(|| "localhost".into())
}

/// The settings for each pod's later pulls (its own pull secrets are added per pod).
pub(crate) struct Pulls {
    pub settings: tandem_image::PullSettings,
}

/// Pull secrets of one pod, as the image store takes them.
pub(crate) fn secrets_of(p: &tandem_api::LoadedPod) -> Vec<NamedAuth> {
    p.image_pull_secrets
        .iter()
        .map(|s| NamedAuth {
            name: s.name.clone(),
            docker_config_json: String::from_utf8_lossy(&s.docker_config_json).into_owned(),
        })
        .collect()
}

/// Now, as object metadata writes it.
pub(crate) fn now_time() -> k8s_openapi::apimachinery::pkg::apis::meta::v1::Time {
    k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        k8s_openapi::jiff::Timestamp::from_microsecond(tandem_supervisor::logs::now_us())
            .unwrap_or(k8s_openapi::jiff::Timestamp::UNIX_EPOCH),
    )
}

/// The Services of the pod's namespace that exist as it starts, as environment variables of
/// each container (`enableServiceLinks`, the kubelet's default), and always those of the
/// `kubernetes` Service (`KUBERNETES_SERVICE_HOST`, …), as the kubelet gives them whatever
/// `enableServiceLinks` says: put first, so the container's own variables of the same name win
/// and may refer to them as `$(WEB_SERVICE_HOST)`.
fn with_service_links(store: &Store, plan: &mut tandem_api::plan::PodPlan) {
    use tandem_api::plan::{EnvValue, EnvVar};
    let mut services: Vec<k8s_openapi::api::core::v1::Service> = match plan.enable_service_links {
        true => super::service_store::list(store)
            .into_iter()
            .map(|(_, s)| s)
            .filter(|s| s.metadata.namespace.as_deref() == Some(plan.namespace.as_str()))
            .collect(),
        false => Vec::new(),
    };
    // A Service of the pod's own namespace named `kubernetes` wins, as in the kubelet's map.
    if !services
        .iter()
        .any(|s| s.metadata.name.as_deref() == Some("kubernetes"))
    {
        services.push(super::service_store::kubernetes_service(store));
    }
    let links: Vec<EnvVar> = tandem_api::services::environment(&services)
        .into_iter()
        .map(|(name, value)| EnvVar {
            name,
            // Literals are stored with `$` doubled (see `EnvValue::Literal`).
            value: EnvValue::Literal(value.replace('$', "$$")),
        })
        .collect();
    if links.is_empty() {
        return;
    }
    for c in plan
        .init_containers
        .iter_mut()
        .chain(plan.containers.iter_mut())
    {
        c.env.splice(0..0, links.iter().cloned());
    }
}

pub(crate) fn start_pod(
    store: &Store,
    exe: &std::path::Path,
    p: &tandem_api::LoadedPod,
    pulls: &Pulls,
    net: &NetworkRequest,
) -> anyhow::Result<PodDir> {
    let mut plan = p.plan.clone();
    if plan.token_key.is_some() {
        super::object_store::keep_namespace_defaults(store, &plan.namespace).with_context(
            || {
                format!(
                    "cannot keep namespace {:?}'s default ServiceAccount and CA",
                    plan.namespace
                )
            },
        )?;
    }
    let mut object = p.object.clone();
    object.metadata.uid = Some(plan.uid.clone());
    object.metadata.namespace = Some(plan.namespace.clone());
    object.metadata.creation_timestamp = Some(now_time());
    // Pending from the start, as the API server creates every pod; the supervisor takes over.
    object.status = Some(k8s_openapi::api::core::v1::PodStatus {
        phase: Some("Pending".into()),
        ..Default::default()
    });
    if let Some(spec) = object.spec.as_mut() {
        spec.node_name = Some(plan.node_name.clone());
    }
    // Everything is written into a staging directory first and the whole renamed into place:
    // the rename is the atomic claim on the name (a second `run` of the same pod fails there
    // and touches nothing of the first), and a `run` killed before it leaves no half-made pod.
    let staged = store.staging(&plan.namespace, &plan.name);
    let make_dir = || {
        std::fs::create_dir(&staged.root)
            .with_context(|| format!("cannot create {}", staged.root.display()))
    };
    // The store's cluster DNS, for the pod's resolv.conf (a pod with loopback only has none).
    let mut net = net.clone();
    let made = match net.is_none() {
        true => make_dir(),
        false => super::service_store::with_cluster_dns(store, |ip| {
            net.cluster_dns = Some(tandem_supervisor::network::ClusterDns {
                ip: ip.to_string(),
                services: store.services.clone(),
            });
            make_dir()
        }),
    };
    // After the store's addresses are reserved: the `kubernetes` Service's is among them.
    with_service_links(store, &mut plan);
    let prepared = made.and_then(|()| -> anyhow::Result<()> {
        write_atomic(&staged.plan_json(), &serde_json::to_vec_pretty(&plan)?)?;
        let settings = tandem_image::PullSettings {
            pull_secrets: secrets_of(p),
            ..pulls.settings.clone()
        };
        write_private(&staged.pull_json(), &serde_json::to_vec(&settings)?)?;
        write_atomic(&staged.pod_json(), &serde_json::to_vec_pretty(&object)?)?;
        write_atomic(
            &staged.root.join(tandem_supervisor::network::REQUEST_FILE),
            &serde_json::to_vec_pretty(&net)?,
        )?;
        // Until the supervisor writes its own pid there, this process answers for the pod: a
        // pod found before then is being started, not lost, unless this process is gone.
        std::fs::write(staged.pid_file(), std::process::id().to_string())?;
        tandem_runtime::fault::reached(tandem_runtime::fault::FaultPoint::RunBeforeClaim);
        Ok(())
    });
    let claimed = prepared.and_then(|()| {
        store
            .claim(&staged, &plan.namespace, &plan.name)
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::AlreadyExists => hint(
                    format!("pods \"{}\" already exists", plan.name),
                    format!(
                        "delete it first with `tandem delete pod {}`, or rename the pod",
                        plan.name
                    ),
                ),
                _ => anyhow::Error::new(e)
                    .context(format!("cannot move {} into place", staged.root.display())),
            })
    });
    let dir = match claimed {
        Ok(dir) => dir,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&staged.root);
            return Err(e);
        }
    };
    tandem_runtime::fault::reached(tandem_runtime::fault::FaultPoint::RunAfterClaim);
    let result = (|| -> anyhow::Result<()> {
        // The proxy serves the cluster DNS while any pod is in the store.
        super::service_proxy::ensure_proxy(store, exe)?;
        let log = std::fs::File::create(dir.supervisor_log())?;
        let args = tandem_supervisor::supervise::SuperviseArgs {
            pod_dir: dir.root.clone(),
            images: store.images.clone(),
        };
        let program = <tandem_supervisor::supervise::SuperviseArgs as tandem_runtime::helper::HelperArgs>::program(exe);
        let mut child = Command::new(program)
            .args(tandem_runtime::helper::HelperArgs::argv(&args))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("cannot start the pod's supervisor")?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line)?;
        }
        if line.trim() == "ok" {
            return Ok(());
        }
        let _ = child.wait();
        let message = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or_else(|| {
                std::fs::read_to_string(dir.supervisor_log())
                    .unwrap_or_default()
                    .trim()
                    .to_string()
            });
        Err(anyhow::anyhow!("{message}").context(format!("pod {} could not be started", plan.name)))
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_dir_all(&dir.root);
        return Err(e);
    }
    Ok(dir)
}

/// Writes a file only root can read (it may hold registry credentials).
pub(crate) fn write_private(path: &std::path::Path, data: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(data)?;
    f.sync_all()
}
