//! One module per verb; each returns the process exit status.

mod api_backend;
mod apply;
mod attach;
pub(crate) mod control;
pub(crate) mod controller;
mod cp;
mod debug;
mod delete;
mod describe;
pub(crate) mod exec;
mod get;
pub(crate) mod graph;
mod image;
pub(crate) mod lint;
mod logs;
mod metadata;
mod node;
mod object_store;
mod patch;
mod port_forward;
mod run;
mod serve;
pub(crate) mod service_proxy;
pub(crate) mod service_store;
pub(crate) mod services;
mod set;
mod start;
pub(crate) mod timeline;
pub(crate) mod top;
mod wait;
mod workloads;

use std::path::{Path, PathBuf};

use anyhow::Context;
use k8s_openapi::api::core::v1::Pod;
use tandem_supervisor::statedir::{PodDir, Store};

use crate::cli::{Cli, Command};
use crate::errors::{hint, hint_caused};

pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    let store = Store::new(cli.root.as_deref());
    match cli.command {
        Command::Run(a) => run::run(&store, a),
        Command::Apply(a) => apply::apply(&store, a),
        Command::Get(a) => get::get(&store, a),
        Command::Logs(a) => logs::logs(&store, a),
        Command::Exec(a) => exec::exec(&store, a),
        Command::Attach(a) => attach::attach(&store, a),
        Command::Debug(a) => debug::debug(&store, a),
        Command::Completion(a) => crate::completion::print_registration(&a.shell).map(|()| 0),
        Command::Top(a) => top::top(&store, a),
        Command::Cp(a) => cp::cp(&store, a),
        Command::Describe(a) => describe::describe(&store, a),
        Command::PortForward(a) => port_forward::port_forward(&store, a),
        Command::Delete(a) => delete::delete(&store, a),
        Command::Scale(a) => workloads::scale(&store, a),
        Command::Rollout(c) => workloads::rollout(&store, c),
        Command::Create(crate::cli::CreateCommand::Job(a)) => workloads::create_job(&store, a),
        Command::Label(a) => metadata::change(&store, a, metadata::Field::Labels),
        Command::Annotate(a) => metadata::change(&store, a, metadata::Field::Annotations),
        Command::Serve(a) => serve::serve(&store, a),
        Command::Kubeconfig(a) => serve::kubeconfig(&store, a),
        Command::Image(a) => image::image(&store, a),
        Command::Wait(a) => wait::wait(&store, a),
        Command::Set(crate::cli::SetCommand::Image(a)) => set::set_image(&store, a),
        Command::Patch(a) => patch::patch(&store, a),
        Command::Lint(a) => lint::lint(a),
        Command::Graph(a) => graph::graph(&store, a),
        Command::Timeline(a) => timeline::timeline(&store, a),
    }
}

/// Reads manifest files; `-` is stdin.
pub fn read_sources(files: &[PathBuf]) -> anyhow::Result<Vec<tandem_api::Source>> {
    if files.is_empty() {
        return Err(hint(
            "no manifest given",
            "pass a file: `tandem run pod.yaml` (or `-f pod.yaml`, `-` for stdin)",
        ));
    }
    files
        .iter()
        .map(|f| {
            let (name, text) = if f == Path::new("-") {
                let mut s = String::new();
                std::io::Read::read_to_string(&mut std::io::stdin(), &mut s)
                    .context("cannot read stdin")?;
                ("<stdin>".to_string(), s)
            } else {
                let text = std::fs::read_to_string(f)
                    .with_context(|| format!("cannot read {}", f.display()))?;
                (f.display().to_string(), text)
            };
            Ok(tandem_api::Source { name, text })
        })
        .collect()
}

/// Accepts `NAME`, `pod/NAME`, `pods/NAME`.
pub fn pod_name(arg: &str) -> &str {
    arg.strip_prefix("pod/")
        .or_else(|| arg.strip_prefix("pods/"))
        .unwrap_or(arg)
}

/// The pod a command aimed at `TYPE/NAME` acts on, as kubectl picks it
/// (`polymorphichelpers`): `NAME` or `pod/NAME` itself; for `svc/NAME` a running pod its
/// selector picks, with the Service (to read ports against); for a workload (`deployment/NAME`,
/// `job/NAME`, …) a running pod of it; a ready one first. When several could serve, kubectl's
/// `Found N pods, using pod/NAME` goes to stderr. `verb` completes the error of a kind no pod
/// is picked from ("cannot forward to configmap").
pub(crate) fn pod_of(
    store: &Store,
    namespace: &str,
    target: &str,
    verb: &str,
) -> anyhow::Result<(PodDir, Option<k8s_openapi::api::core::v1::Service>)> {
    let Some((kind, name)) = target.split_once('/') else {
        return Ok((existing_pod(store, namespace, target)?, None));
    };
    if matches!(kind, "pod" | "pods" | "po") {
        return Ok((existing_pod(store, namespace, name)?, None));
    }
    let (candidates, service) = if matches!(kind, "service" | "services" | "svc") {
        let dir = service_store::ServiceDir::of(store, namespace, name);
        let service = dir.read().map_err(|_| {
            crate::errors::not_found("services", name, "`tandem get services` lists them")
        })?;
        let selector = service
            .spec
            .as_ref()
            .and_then(|s| s.selector.clone())
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                crate::errors::hint(
                    format!("cannot attach to a Service without a selector: {name}"),
                    "name one of the pods its endpoints name: `pod/NAME`",
                )
            })?;
        let pods: Vec<PodDir> = list_pods(store)?
            .into_iter()
            .filter(|d| {
                read_pod(d).is_ok_and(|p| {
                    let labels = p.metadata.labels.unwrap_or_default();
                    p.metadata.namespace.as_deref() == Some(namespace)
                        && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
                })
            })
            .collect();
        (pods, Some(service))
    } else if let Some(w) = tandem_api::WorkloadKind::from_resource(kind) {
        let dir = controller::WorkloadDir::of(store, w, namespace, name);
        if dir.read().is_err() {
            return Err(crate::errors::not_found(
                &w.group_resource(),
                name,
                format!("`tandem get {}` lists them", w.plural()),
            ));
        }
        (controller::pods_of(store, &dir), None)
    } else {
        return Err(crate::errors::hint(
            format!("cannot {verb} {kind}: tandem picks a pod of pods, Services and workloads"),
            "write `pod/NAME` or `deployment/NAME`",
        ));
    };
    let ready = |d: &PodDir| {
        read_pod(d).is_ok_and(|p| {
            p.status
                .and_then(|s| s.conditions)
                .unwrap_or_default()
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
        })
    };
    let mut running: Vec<PodDir> = candidates
        .into_iter()
        .filter(|d| d.live_supervisor().is_some())
        .collect();
    running.sort_by_key(|d| (!ready(d), d.root.clone()));
    let count = running.len();
    let dir = running.into_iter().next().ok_or_else(|| {
        crate::errors::hint(
            format!("no running pod found for {kind}/{name}"),
            format!("`tandem get pods` shows the pods; `tandem describe {kind} {name}` what selects them"),
        )
    })?;
    if count > 1 {
        let chosen = read_pod(&dir)
            .ok()
            .and_then(|p| p.metadata.name)
            .unwrap_or_default();
        eprintln!("Found {count} pods, using pod/{chosen}");
    }
    Ok((dir, service))
}

/// The pod directory of an existing pod, or a NotFound error in kubectl's words. A pod that
/// cannot be looked at (another user's store) is a permission error, not NotFound.
pub fn existing_pod(store: &Store, namespace: &str, name: &str) -> anyhow::Result<PodDir> {
    let dir = store.pod(namespace, name);
    match std::fs::metadata(dir.pod_json()) {
        Ok(_) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(crate::errors::not_found(
            "pods",
            name,
            "list pods with `tandem get pods`",
        )),
        Err(e) => Err(store_error(store, e)),
    }
}

/// `-l`/`--selector`, parsed, or the error naming what is wrong in it.
pub fn label_selector(text: Option<&str>) -> anyhow::Result<Option<tandem_api::labels::Selector>> {
    text.map(tandem_api::labels::Selector::parse)
        .transpose()
        .map_err(|e| {
            hint(
                format!("invalid selector: {e}"),
                "write e.g. -l app=web,tier!=db",
            )
        })
}

/// The annotation naming the container kubectl picks when none is given.
const DEFAULT_CONTAINER: &str = "kubectl.kubernetes.io/default-container";

/// The container `-c` names, else the pod's default one, with kubectl's note when a default was
/// picked among several.
fn choose_container(pod: &Pod, asked: Option<&str>) -> anyhow::Result<(String, Option<String>)> {
    let name = pod.metadata.name.as_deref().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let mains: Vec<&str> = spec.containers.iter().map(|c| c.name.as_str()).collect();
    let inits: Vec<&str> = spec
        .init_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    let ephemeral: Vec<&str> = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    // An ephemeral container is chosen only by name, as kubectl chooses it.
    let exists = |c: &str| mains.contains(&c) || inits.contains(&c) || ephemeral.contains(&c);
    if let Some(c) = asked {
        if exists(c) {
            return Ok((c.to_string(), None));
        }
        let all: Vec<&str> = mains.iter().chain(&inits).copied().collect();
        return Err(hint(
            format!("container {c} is not valid for pod {name}"),
            format!("choose one of: [{}] with -c", all.join(" ")),
        ));
    }
    let annotated = pod
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(DEFAULT_CONTAINER))
        .filter(|c| exists(c));
    if let Some(c) = annotated {
        return Ok((c.clone(), None));
    }
    let Some(first) = mains.first() else {
        return Err(hint(
            format!("pod {name} has no containers"),
            "name one with -c",
        ));
    };
    let note = (mains.len() + inits.len() > 1).then(|| {
        let all: Vec<String> = mains
            .iter()
            .map(|c| c.to_string())
            .chain(inits.iter().map(|c| format!("{c} (init)")))
            .collect();
        format!("Defaulted container {first:?} out of: {}", all.join(", "))
    });
    Ok((first.to_string(), note))
}

/// This program, to start helpers with: its path, or the running image itself once the file
/// was replaced (an upgrade under a long-running `serve` or controller), which still runs.
pub fn own_exe() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe().context("cannot find the tandem executable")?;
    Ok(match exe.exists() {
        true => exe,
        false => PathBuf::from("/proc/self/exe"),
    })
}

/// Every pod of the store, or why they cannot be read, with what to do about it.
pub fn list_pods(store: &Store) -> anyhow::Result<Vec<PodDir>> {
    store.list().map_err(|e| store_error(store, e))
}

fn store_error(store: &Store, e: std::io::Error) -> anyhow::Error {
    let what = format!("cannot read the pods in {}", store.pods.display());
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => hint_caused(
            e,
            what,
            "this store belongs to another user (root): run tandem with sudo, or keep a store of your own with --root DIR",
        ),
        std::io::ErrorKind::NotADirectory => hint_caused(
            e,
            what,
            "--root (or TANDEM_ROOT) must name a directory",
        ),
        _ => anyhow::Error::new(e).context(what),
    }
}

/// The pod object as last written, with phase Unknown when its supervisor died mid-run.
pub fn read_pod(dir: &PodDir) -> anyhow::Result<Pod> {
    let bytes = std::fs::read(dir.pod_json())
        .with_context(|| format!("cannot read {}", dir.pod_json().display()))?;
    let mut pod: Pod = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid", dir.pod_json().display()))?;
    // A pod whose supervisor never started has no status yet: that is news too.
    {
        let status = pod.status.get_or_insert_with(Default::default);
        let terminal = matches!(status.phase.as_deref(), Some("Succeeded") | Some("Failed"));
        if !terminal && dir.live_supervisor().is_none() {
            status.phase = Some("Unknown".into());
            status.reason = Some("SupervisorLost".into());
            let why = dir.supervisor_death().map_or_else(
                || "the pod's supervisor is gone (killed?)".to_string(),
                |d| d.message,
            );
            status.message = Some(format!(
                "{why}; its log: {}; `tandem delete pod {}` removes what is left",
                dir.supervisor_log().display(),
                pod.metadata.name.as_deref().unwrap_or_default()
            ));
        }
    }
    Ok(pod)
}

/// A running pod's supervisor takes changes (`set image`, `patch`); an ended pod does not, and
/// only root may reach it. `ended_hint` says what to do about an ended pod.
fn ensure_changeable(
    dir: &PodDir,
    name: &str,
    ended: &str,
    ended_hint: String,
) -> anyhow::Result<()> {
    if dir.live_supervisor().is_none() {
        let phase = read_pod(dir)
            .ok()
            .and_then(|p| p.status.and_then(|s| s.phase))
            .unwrap_or_else(|| "Unknown".into());
        return Err(hint(
            format!("pod {name} is not running (phase {phase}); {ended}"),
            ended_hint,
        ));
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(hint(
            "tandem needs root to change a pod",
            "run it with sudo, or as root",
        ));
    }
    Ok(())
}

/// Sends one change to a pod's supervisor over its control socket and waits for the answer;
/// `what` names the change in errors ("patch", "update").
fn ask_supervisor(
    dir: &PodDir,
    name: &str,
    request: &tandem_supervisor::proto::Request,
    what: &str,
    rejected_hint: &str,
) -> anyhow::Result<()> {
    supervisor_answer(dir, name, request)?.map_err(|message| match message {
        Some(message) => hint(
            format!("pod {name} did not take the {what}: {message}"),
            rejected_hint.to_string(),
        ),
        None => hint(
            format!("pod {name} did not take the {what} (its supervisor closed the connection)"),
            format!("the pod may have just ended; `tandem get pod {name}` shows it"),
        ),
    })
}

/// Sends one change to a pod's supervisor and reads its answer: `Ok(Ok(()))` accepted,
/// `Ok(Err(Some(why)))` rejected, `Ok(Err(None))` no answer (the supervisor closed the
/// connection: the pod is ending); `Err` when the supervisor cannot be reached.
pub(crate) fn supervisor_answer(
    dir: &PodDir,
    name: &str,
    request: &tandem_supervisor::proto::Request,
) -> anyhow::Result<Result<(), Option<String>>> {
    use std::io::{BufRead, BufReader, Write};
    use tandem_supervisor::proto::Reply;
    let mut s = dir
        .socket_addr()
        .and_then(|addr| std::os::unix::net::UnixStream::connect(addr.path()))
        .with_context(|| format!("cannot reach the supervisor of pod {name}"))?;
    let mut req = serde_json::to_vec(request)?;
    req.push(b'\n');
    s.write_all(&req)
        .with_context(|| format!("cannot reach the supervisor of pod {name}"))?;
    let mut line = String::new();
    BufReader::new(s)
        .read_line(&mut line)
        .with_context(|| format!("no answer from the supervisor of pod {name}"))?;
    Ok(match serde_json::from_str::<Reply>(&line) {
        Ok(Reply::Accepted) => Ok(()),
        Ok(Reply::Rejected(message)) => Err(Some(message)),
        _ => Err(None),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(json: &str) -> Pod {
        serde_json::from_str(json).expect("a pod")
    }

    #[test]
    fn the_default_container_is_the_annotated_one_else_the_first_with_kubectls_note() {
        let spec = r#""spec":{"initContainers":[{"name":"proxy"}],"containers":[{"name":"app"},{"name":"shipper"}]}"#;
        let p = pod(&format!(r#"{{"metadata":{{"name":"web"}},{spec}}}"#));
        let (c, note) = choose_container(&p, None).expect("a default");
        assert_eq!(c, "app");
        assert_eq!(
            note.as_deref(),
            Some(r#"Defaulted container "app" out of: app, shipper, proxy (init)"#)
        );
        let annotated = pod(&format!(
            r#"{{"metadata":{{"name":"web","annotations":{{"{DEFAULT_CONTAINER}":"shipper"}}}},{spec}}}"#
        ));
        assert_eq!(
            choose_container(&annotated, None).expect("c"),
            ("shipper".into(), None)
        );
        // An annotation naming no container is passed over, as kubectl does.
        let stale = pod(&format!(
            r#"{{"metadata":{{"name":"web","annotations":{{"{DEFAULT_CONTAINER}":"gone"}}}},{spec}}}"#
        ));
        assert_eq!(choose_container(&stale, None).expect("c").0, "app");
        assert_eq!(
            choose_container(&p, Some("proxy")).expect("c"),
            ("proxy".into(), None)
        );
        let err = choose_container(&p, Some("nope")).expect_err("unknown");
        assert_eq!(err.to_string(), "container nope is not valid for pod web");
        let single = pod(r#"{"metadata":{"name":"one"},"spec":{"containers":[{"name":"only"}]}}"#);
        assert_eq!(
            choose_container(&single, None).expect("c"),
            ("only".into(), None)
        );
    }
}
