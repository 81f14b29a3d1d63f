use anyhow::Context;
use tandem_supervisor::logs::parse_record;
use tandem_supervisor::statedir::Store;

use super::{existing_pod, pod_name, read_pod};
use crate::cli::LogsArgs;
use crate::errors::hint;

pub fn logs(store: &Store, a: LogsArgs) -> anyhow::Result<i32> {
    let name = pod_name(&a.pod);
    let dir = existing_pod(store, &a.namespace, name)?;
    let pod = read_pod(&dir)?;
    let status = pod.status;
    let spec = pod.spec.unwrap_or_default();
    let names: Vec<String> = spec
        .init_containers
        .iter()
        .flatten()
        .chain(spec.containers.iter())
        .map(|c| c.name.clone())
        .collect();
    let container = match a.container {
        Some(c) if names.contains(&c) => c,
        Some(c) => {
            return Err(hint(
                format!("container {c} is not valid for pod {name}"),
                format!("choose one of: [{}]", names.join(" ")),
            ))
        }
        None if spec.containers.len() == 1
            && spec.init_containers.as_ref().is_none_or(|i| i.is_empty()) =>
        {
            spec.containers[0].name.clone()
        }
        None => {
            return Err(hint(
                format!("a container name must be specified for pod {name}"),
                format!("choose one of: [{}] with -c", names.join(" ")),
            ))
        }
    };
    // The instance is named by the status's restartCount (log files are `<restartCount>.log`);
    // listing the directory instead would race with a restart that has not written its file yet.
    let restarts = status
        .iter()
        .flat_map(|s| {
            s.init_container_statuses
                .iter()
                .flatten()
                .chain(s.container_statuses.iter().flatten())
        })
        .find(|c| c.name == container)
        .map(|c| c.restart_count.max(0) as u32);
    let latest_on_disk = std::fs::read_dir(dir.logs(&container))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    e.file_name()
                        .to_str()
                        .and_then(|n| n.strip_suffix(".log"))
                        .and_then(|n| n.parse::<u32>().ok())
                })
                .max()
        })
        .unwrap_or_default();
    let current = restarts.or(latest_on_disk);
    let pick = match (current, a.previous) {
        (Some(n), false) => Some(n),
        (Some(n), true) => n.checked_sub(1),
        (None, _) => None,
    };
    let pick = pick.as_ref();
    let Some(n) = pick else {
        if a.previous {
            return Err(hint(
                format!(
                    "previous terminated container \"{container}\" in pod \"{name}\" not found"
                ),
                "the container has not restarted",
            ));
        }
        return Ok(0);
    };
    let path = dir.log_file(&container, *n);
    // An instance that is starting has written nothing yet.
    let text = match std::fs::read_to_string(&path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => String::new(),
        other => other.with_context(|| format!("cannot read {}", path.display()))?,
    };
    let mut out = String::new();
    for rec in text.lines().filter_map(parse_record) {
        let (time, _stream, partial, content) = rec;
        if a.timestamps {
            out.push_str(&time);
            out.push(' ');
        }
        out.push_str(&content);
        if !partial {
            out.push('\n');
        }
    }
    print!("{out}");
    Ok(0)
}
