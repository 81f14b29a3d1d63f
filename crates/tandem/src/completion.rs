//! Shell completion: `tandem completion bash|zsh|fish` prints the script that registers tandem
//! with the shell; the shell then asks tandem itself (`TANDEM_COMPLETE=<shell> tandem -- …`),
//! which completes verbs and flags from the command line's own definition and pod and container
//! names from the store (`--root` is not known yet at that point: `TANDEM_ROOT`, else the
//! default store).

use clap_complete::engine::CompletionCandidate;
use tandem_supervisor::statedir::Store;

/// The environment variable the registered shell function sets to ask for completions.
pub const VAR: &str = "TANDEM_COMPLETE";

fn pods() -> Vec<k8s_openapi::api::core::v1::Pod> {
    let root = std::env::var_os("TANDEM_ROOT").map(std::path::PathBuf::from);
    Store::new(root.as_deref())
        .list()
        .unwrap_or_default()
        .iter()
        .filter_map(|d| std::fs::read(d.pod_json()).ok())
        .filter_map(|b| serde_json::from_slice(&b).ok())
        .collect()
}

/// The names of the pods in the store, each with its phase as help.
pub fn pod_names() -> Vec<CompletionCandidate> {
    pods()
        .into_iter()
        .filter_map(|p| {
            let phase = p.status.and_then(|s| s.phase).unwrap_or_default();
            p.metadata
                .name
                .map(|n| CompletionCandidate::new(n).help(Some(phase.into())))
        })
        .collect()
}

/// The container names of every pod in the store (the pod being typed is not known here).
pub fn container_names() -> Vec<CompletionCandidate> {
    let mut names: Vec<String> = pods()
        .into_iter()
        .filter_map(|p| p.spec)
        .flat_map(|s| {
            s.init_containers
                .into_iter()
                .flatten()
                .chain(s.containers)
                .map(|c| c.name)
        })
        .collect();
    names.sort();
    names.dedup();
    names.into_iter().map(CompletionCandidate::new).collect()
}

/// Prints the registration script for `shell`, which calls this binary back by its path.
pub fn print_registration(shell: &str) -> anyhow::Result<()> {
    let shells = clap_complete::env::Shells::builtins();
    let completer = shells.completer(shell).ok_or_else(|| {
        crate::errors::hint(
            format!("unknown shell {shell:?}"),
            format!(
                "choose one of: {}",
                shells.names().collect::<Vec<_>>().join(", ")
            ),
        )
    })?;
    let exe = std::env::current_exe()
        .ok()
        .and_then(|p| p.to_str().map(str::to_string))
        .unwrap_or_else(|| "tandem".into());
    let mut out = Vec::new();
    completer.write_registration(VAR, "tandem", "tandem", &exe, &mut out)?;
    std::io::Write::write_all(&mut std::io::stdout(), &out)?;
    Ok(())
}
