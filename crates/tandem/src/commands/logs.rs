use anyhow::Context;
use std::io::Write;

use tandem_supervisor::logs::{parse_record, segments};
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
    // The instance's rotated files, oldest first, then its current one; an instance that is
    // starting has written nothing yet. Contents go out as the container wrote them.
    let mut stdout = std::io::stdout().lock();
    for path in segments(&dir.log_file(&container, *n)) {
        let bytes = match std::fs::read(&path) {
            // Rotated away while this was reading: its lines are in the files after it.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            other => other.with_context(|| format!("cannot read {}", path.display()))?,
        };
        let mut out = Vec::with_capacity(bytes.len());
        for rec in bytes.split(|b| *b == b'\n').filter_map(parse_record) {
            if a.timestamps {
                out.extend_from_slice(rec.time);
                out.push(b' ');
            }
            out.extend_from_slice(rec.content);
            if !rec.partial {
                out.push(b'\n');
            }
        }
        stdout.write_all(&out)?;
    }
    stdout.flush()?;
    Ok(0)
}
