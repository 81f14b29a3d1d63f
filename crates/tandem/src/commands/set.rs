//! `tandem set image pod/NAME CONTAINER=IMAGE...` (kubectl set image): the one change a running
//! pod takes (docs/kubelet-rules.md §1.7). Every image is checked and pulled as its container's
//! imagePullPolicy says before the pod is touched; then the pod's supervisor takes the new spec
//! and its engine restarts what the kubelet would restart.

use anyhow::Context;
use std::collections::BTreeMap;
use tandem_api::plan::PodPlan;
use tandem_image::{ImageStore, PullSettings};
use tandem_supervisor::proto::Request;
use tandem_supervisor::statedir::{PodDir, Store};

use super::image::ProgressView;
use super::{existing_pod, pod_name};
use crate::cli::SetImageArgs;
use crate::errors::hint;

const USAGE: &str = "write `tandem set image pod/NAME CONTAINER=IMAGE [CONTAINER=IMAGE...]`";

pub fn set_image(store: &Store, a: SetImageArgs) -> anyhow::Result<i32> {
    // A workload: `KIND/NAME` or `KIND NAME` first.
    let workload = match a.args.as_slice() {
        [first, rest @ ..] => match first.split_once('/') {
            Some((k, n)) => {
                tandem_api::WorkloadKind::from_resource(k).map(|k| (k, n.to_string(), rest))
            }
            None => match (tandem_api::WorkloadKind::from_resource(first), rest) {
                (Some(k), [n, rest @ ..]) => Some((k, n.clone(), rest)),
                _ => None,
            },
        },
        [] => None,
    };
    if let Some((kind, name, pairs)) = workload {
        let (_, images) = parse_args(&[&[format!("{}/{name}", kind.plural())], pairs].concat())?;
        return super::workloads::set_image(store, kind, &a.namespace, &name, &images).map(|()| 0);
    }
    let (name, images) = parse_args(&a.args)?;
    let dir = existing_pod(store, &a.namespace, &name)?;
    let plan = read_plan(&dir)?;
    for container in images.keys() {
        if plan.container(container).is_none() {
            let names: Vec<&str> = plan.all_containers().map(|c| c.name.as_str()).collect();
            return Err(hint(
                format!("unable to find container named {container:?}"),
                format!("pod {name} has the containers {}", names.join(", ")),
            ));
        }
    }
    super::ensure_changeable(
        &dir,
        &name,
        "its containers will not start again",
        format!("run it anew: `tandem delete pod {name}`, then `tandem run` with the new image in the manifest"),
    )?;
    pull_images(store, &dir, &plan, &images)?;
    super::ask_supervisor(
        &dir,
        &name,
        &Request::SetImage { images },
        "update",
        &format!("`tandem get pod {name} -o yaml` shows its containers and state"),
    )?;
    println!("pod/{name} image updated");
    Ok(0)
}

/// `pod/NAME`, `NAME` or `pod NAME`, then `CONTAINER=IMAGE` pairs.
fn parse_args(args: &[String]) -> anyhow::Result<(String, BTreeMap<String, String>)> {
    let mut names = vec![];
    let mut images = BTreeMap::new();
    for (i, arg) in args.iter().enumerate() {
        match arg.split_once('=') {
            Some((c, image)) if !c.is_empty() && !image.is_empty() => {
                images.insert(c.to_string(), image.to_string());
            }
            Some(_) => {
                return Err(hint(
                    format!("invalid container image {arg:?}: expected CONTAINER=IMAGE"),
                    USAGE,
                ))
            }
            None if i == 0 && matches!(arg.as_str(), "pod" | "pods" | "po") => {}
            None => names.push(pod_name(arg).to_string()),
        }
    }
    match names.as_slice() {
        [name] if !images.is_empty() => Ok((name.clone(), images)),
        [_] => Err(hint("no CONTAINER=IMAGE given", USAGE)),
        [] => Err(hint("no pod given", USAGE)),
        _ => Err(hint(
            format!("one pod at a time, got {}", names.join(", ")),
            USAGE,
        )),
    }
}

fn read_plan(dir: &PodDir) -> anyhow::Result<PodPlan> {
    let bytes = std::fs::read(dir.plan_json())
        .with_context(|| format!("cannot read {}", dir.plan_json().display()))?;
    serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not valid", dir.plan_json().display()))
}

/// Applies each container's imagePullPolicy to its new image, as `tandem run` does, with the
/// pod's own registry settings and pull secrets; unlike `run`, a failed pull fails the command,
/// so the pod never gets an image it cannot start.
fn pull_images(
    store: &Store,
    dir: &PodDir,
    plan: &PodPlan,
    images: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    let store_images = ImageStore::open(&store.images)
        .with_context(|| format!("cannot open the image store at {}", store.images.display()))?;
    let mut wanted = vec![];
    for (container, image) in images {
        let Some(c) = plan.container(container) else {
            continue;
        };
        let mut c = c.clone();
        c.image = image.clone();
        let fix = format!(
            "fix the image reference: `tandem set image pod/{} {container}=IMAGE`",
            plan.name
        );
        if super::run::needs_pull(&store_images, &plan.name, &c, &fix)? && !wanted.contains(image) {
            wanted.push(image.clone());
        }
    }
    if wanted.is_empty() {
        return Ok(());
    }
    // The settings `tandem run` recorded for this pod: registries, auth file, pull secrets.
    let settings: PullSettings = match std::fs::read(dir.pull_json()) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is not valid", dir.pull_json().display()))?,
        Err(_) => PullSettings::default(),
    };
    let opts = settings
        .options()
        .context("cannot read the registry settings")?;
    let rt = super::image::runtime()?;
    for image in wanted {
        let view = ProgressView::new(false);
        if view.enabled {
            eprintln!("Pulling {image} (for pod {})", plan.name);
        }
        let result = rt.block_on(store_images.pull(&image, &opts, &|p| view.update(p)));
        view.finish();
        let pulled = result.map_err(|e| super::image::pull_error(e, &image))?;
        if view.enabled {
            eprintln!(
                "Pulled {} ({})",
                pulled.image.reference, pulled.resolved_digest
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn the_pod_is_named_as_kubectl_names_it() {
        for a in [
            &["pod/web", "app=busybox:2"][..],
            &["web", "app=busybox:2"],
            &["pod", "web", "app=busybox:2"],
            &["pods/web", "app=busybox:2"],
        ] {
            let (name, images) = parse_args(&args(a)).expect("parses");
            assert_eq!(name, "web");
            assert_eq!(images["app"], "busybox:2");
        }
    }

    #[test]
    fn bad_arguments_are_refused() {
        for a in [
            &["web"][..],
            &["app=busybox:2"],
            &["web", "app="],
            &["web", "=busybox"],
            &["web", "other", "app=busybox:2"],
        ] {
            assert!(parse_args(&args(a)).is_err(), "{a:?}");
        }
    }

    #[test]
    fn several_containers_at_once() {
        let (_, images) =
            parse_args(&args(&["pod/web", "app=a:1", "sidecar=b:2"])).expect("parses");
        assert_eq!(images.len(), 2);
    }
}
