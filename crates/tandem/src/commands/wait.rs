//! `tandem wait pod/NAME --for=condition=Ready|--for=delete|--for=jsonpath='{.status.phase}'=X
//! --timeout=30s` (and `deployment/NAME --for=condition=Available`, `job/NAME
//! --for=condition=Complete`, any workload), as `kubectl wait` behaves: exit status 0 and `pod/NAME condition met` once
//! the condition holds, non-zero and `timed out waiting for the condition on pods/NAME` when the
//! timeout passes first.
//!
//! The supervisor rewrites `<pod dir>/pod.json` atomically (rename) on every status change and
//! removes the pod directory when a deleted pod is gone (a workload's controller does the same
//! with `status.json` and the workload's directory), so this waits on inotify(7) events for the
//! parent directory and the object's directory instead of polling.

use std::os::fd::AsFd;
use std::time::Instant;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::inotify::{AddWatchFlags, InitFlags, Inotify};
use serde_json::Value;
use tandem_supervisor::statedir::Store;

use super::{pod_name, read_pod};
use crate::cli::WaitArgs;
use crate::errors::hint;
use crate::output::jsonpath::{show, Template};

/// What `--for` asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WaitFor {
    /// `condition=NAME[=VALUE]`: the pod condition's status equals VALUE (default True),
    /// compared case-insensitively.
    Condition { name: String, value: String },
    /// `delete`: the pod is gone.
    Delete,
    /// `jsonpath={PATH}=VALUE` (or just `{PATH}`: the field exists and is not empty).
    JsonPath {
        path: Template,
        value: Option<String>,
    },
}

pub fn parse_for(s: &str) -> Result<WaitFor, String> {
    if s.eq_ignore_ascii_case("delete") {
        return Ok(WaitFor::Delete);
    }
    if let Some(rest) = s.strip_prefix("condition=") {
        let (name, value) = match rest.split_once('=') {
            Some((n, v)) => (n, v),
            None => (rest, "True"),
        };
        if name.is_empty() {
            return Err("condition name is empty".into());
        }
        return Ok(WaitFor::Condition {
            name: name.to_string(),
            value: value.to_string(),
        });
    }
    if let Some(rest) = s.strip_prefix("jsonpath=") {
        let rest = rest.trim_matches('\'');
        let (expr, value) = match rest.rfind('}') {
            Some(end) => {
                let tail = &rest[end + 1..];
                let value = match tail.strip_prefix('=') {
                    Some(v) => Some(v.to_string()),
                    None if tail.is_empty() => None,
                    None => return Err(format!("unexpected {tail:?} after the JSONPath")),
                };
                (&rest[..=end], value)
            }
            None => return Err("a JSONPath is written in braces: {.status.phase}".into()),
        };
        if !(expr.starts_with('{') && expr.ends_with('}')) {
            return Err("a JSONPath is written in braces: {.status.phase}".into());
        }
        return Ok(WaitFor::JsonPath {
            path: Template::parse(expr)?,
            value,
        });
    }
    Err(format!(
        "unrecognized condition: {s:?}; use condition=NAME, delete or jsonpath={{PATH}}=VALUE"
    ))
}

/// Whether the pod object meets the condition (`None`: the pod does not exist).
pub fn met(pod: Option<&Value>, want: &WaitFor) -> bool {
    match (want, pod) {
        (WaitFor::Delete, p) => p.is_none(),
        (_, None) => false,
        (WaitFor::Condition { name, value }, Some(p)) => p
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .any(|c| {
                c.get("type").and_then(Value::as_str) == Some(name.as_str())
                    && c.get("status")
                        .and_then(Value::as_str)
                        .is_some_and(|s| s.eq_ignore_ascii_case(value))
            }),
        (WaitFor::JsonPath { path, value }, Some(p)) => match (path.values(p).first(), value) {
            (Some(v), Some(want)) => show(v) == *want,
            (Some(v), None) => !show(v).is_empty(),
            (None, _) => false,
        },
    }
}

pub fn wait(store: &Store, a: WaitArgs) -> anyhow::Result<i32> {
    let want = parse_for(&a.for_condition).map_err(|e| {
        hint(
            e,
            "write --for=condition=Ready, --for=delete or --for=jsonpath='{.status.phase}'=Succeeded",
        )
    })?;
    let timeout =
        tandem_api::duration::parse_go(&a.timeout).map_err(|e| hint(e, "write --timeout=30s"))?;
    // Targets: `pod/NAME`, `pod NAME`, `NAME` (a pod), or a workload `KIND/NAME`.
    let mut targets: Vec<Target> = vec![];
    for t in &a.targets {
        if matches!(t.as_str(), "pod" | "pods" | "po") {
            continue;
        }
        let workload = t
            .split_once('/')
            .and_then(|(k, n)| Some((tandem_api::WorkloadKind::from_resource(k)?, n)));
        targets.push(match workload {
            Some((kind, name)) => Target {
                label: format!("{}/{name}", kind.group_kind()),
                plural: kind.group_resource(),
                name: name.to_string(),
                dir: super::controller::WorkloadDir::of(store, kind, &a.namespace, name).root,
                workload: true,
            },
            None => {
                let name = pod_name(t).to_string();
                Target {
                    label: format!("pod/{name}"),
                    plural: "pods".into(),
                    dir: store.pod(&a.namespace, &name).root,
                    name,
                    workload: false,
                }
            }
        });
    }
    if targets.is_empty() {
        return Err(hint(
            "nothing to wait for",
            "write `tandem wait pod/NAME --for=condition=Ready` or `tandem wait deployment/NAME --for=condition=Available`",
        ));
    }
    let deadline = Instant::now() + timeout;
    let mut code = 0;
    for t in targets {
        // The object while its directory exists (`Null` while it has no readable state yet).
        let read = || -> Option<Value> {
            if !t.dir.exists() {
                return None;
            }
            let object = if t.workload {
                super::controller::WorkloadDir {
                    root: t.dir.clone(),
                }
                .read()
                .ok()
                .map(|w| w.to_json())
            } else {
                read_pod(&tandem_supervisor::statedir::PodDir::open(t.dir.clone()))
                    .ok()
                    .and_then(|p| serde_json::to_value(p).ok())
            };
            Some(object.unwrap_or(Value::Null))
        };
        if want != WaitFor::Delete && read().is_none() {
            eprintln!(
                "Error from server (NotFound): {} \"{}\" not found",
                t.plural, t.name
            );
            code = 1;
            continue;
        }
        let parent = t.dir.parent().unwrap_or(&t.dir).to_path_buf();
        let inotify = Inotify::init(InitFlags::IN_NONBLOCK | InitFlags::IN_CLOEXEC)
            .map_err(|e| anyhow::anyhow!("cannot watch {}: {e}", parent.display()))?;
        let _ = std::fs::create_dir_all(&parent);
        let dir_flags = AddWatchFlags::IN_CREATE
            | AddWatchFlags::IN_DELETE
            | AddWatchFlags::IN_MOVED_TO
            | AddWatchFlags::IN_MOVED_FROM
            | AddWatchFlags::IN_CLOSE_WRITE;
        let _ = inotify.add_watch(&parent, dir_flags);
        loop {
            // Watch before reading, so no change between the read and the wait is missed.
            if t.dir.exists() {
                let _ = inotify.add_watch(&t.dir, dir_flags | AddWatchFlags::IN_DELETE_SELF);
            }
            if met(read().as_ref(), &want) {
                println!("{} condition met", t.label);
                break;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                eprintln!(
                    "error: timed out waiting for the condition on {}/{}",
                    t.plural, t.name
                );
                code = 1;
                break;
            }
            let ms = left.as_millis().min(60_000) as u16;
            let mut fds = [PollFd::new(inotify.as_fd(), PollFlags::POLLIN)];
            let _ = poll(&mut fds, PollTimeout::from(ms.max(1)));
            let _ = inotify.read_events();
        }
    }
    Ok(code)
}

/// One object `wait` waits on: where its state lives and how messages name it.
struct Target {
    /// `pod/web`, `deployment.apps/web`.
    label: String,
    /// `pods`, `deployments.apps`.
    plural: String,
    name: String,
    dir: std::path::PathBuf,
    workload: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_the_three_kinds_of_for() {
        assert_eq!(parse_for("delete"), Ok(WaitFor::Delete));
        assert_eq!(
            parse_for("condition=Ready"),
            Ok(WaitFor::Condition {
                name: "Ready".into(),
                value: "True".into()
            })
        );
        assert_eq!(
            parse_for("jsonpath={.status.phase}=Succeeded"),
            Ok(WaitFor::JsonPath {
                path: Template::parse("{.status.phase}").expect("a template"),
                value: Some("Succeeded".into())
            })
        );
        assert!(parse_for("bogus").is_err());
    }

    #[test]
    fn conditions_and_jsonpaths_match_the_pod() {
        let pod = json!({"status": {"phase": "Running",
            "conditions": [{"type": "Ready", "status": "True"}],
            "containerStatuses": [{"name": "a", "restartCount": 2}]}});
        let ready = parse_for("condition=Ready").expect("parse");
        let not_ready = parse_for("condition=Ready=false").expect("parse");
        assert!(met(Some(&pod), &ready));
        assert!(!met(Some(&pod), &not_ready));
        assert!(!met(None, &ready));
        assert!(met(None, &WaitFor::Delete));
        let rc = parse_for("jsonpath={.status.containerStatuses[0].restartCount}=2").expect("p");
        assert!(met(Some(&pod), &rc));
        let phase = parse_for("jsonpath={.status.phase}=Succeeded").expect("parse");
        assert!(!met(Some(&pod), &phase));
    }
}
