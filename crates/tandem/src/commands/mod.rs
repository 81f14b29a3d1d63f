//! One module per verb; each returns the process exit status.

mod delete;
mod exec;
mod get;
pub(crate) mod graph;
mod image;
pub(crate) mod lint;
mod logs;
mod patch;
mod run;
mod set;
pub(crate) mod timeline;
mod wait;

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
        Command::Get(a) => get::get(&store, a),
        Command::Logs(a) => logs::logs(&store, a),
        Command::Exec(a) => exec::exec(&store, a),
        Command::Delete(a) => delete::delete(&store, a),
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

/// The pod directory of an existing pod, or a NotFound error in kubectl's words. A pod that
/// cannot be looked at (another user's store) is a permission error, not NotFound.
pub fn existing_pod(store: &Store, namespace: &str, name: &str) -> anyhow::Result<PodDir> {
    let dir = store.pod(namespace, name);
    match std::fs::metadata(dir.pod_json()) {
        Ok(_) => Ok(dir),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(hint(
            format!("pods \"{name}\" not found"),
            "list pods with `tandem get pods`",
        )),
        Err(e) => Err(store_error(store, e)),
    }
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
    match serde_json::from_str::<Reply>(&line) {
        Ok(Reply::Accepted) => Ok(()),
        Ok(Reply::Rejected(message)) => Err(hint(
            format!("pod {name} did not take the {what}: {message}"),
            rejected_hint.to_string(),
        )),
        _ => Err(hint(
            format!("pod {name} did not take the {what} (its supervisor closed the connection)"),
            format!("the pod may have just ended; `tandem get pod {name}` shows it"),
        )),
    }
}
