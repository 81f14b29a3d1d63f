//! `tandem graph FILE|POD`: the pod's topology as Mermaid (default), DOT or SVG on stdout.

use std::path::Path;

use k8s_openapi::api::core::v1::Pod;
use tandem_lint::graph::Diagram;
use tandem_lint::topology::Topology;
use tandem_supervisor::statedir::Store;

use super::{existing_pod, pod_name, read_pod, read_sources};
use crate::cli::{GraphArgs, GraphFormat};
use crate::errors::{hint, Reported};

fn pod_from_file(a: &GraphArgs) -> anyhow::Result<Pod> {
    let sources = read_sources(&[Path::new(&a.target).to_path_buf()])?;
    let mut pods = tandem_api::written_pods(&sources);
    if pods.is_empty() {
        if let Err(diags) = tandem_api::load(&sources, &Default::default()) {
            eprint!("{}", diags.render(&sources));
            return Err(Reported.into());
        }
        return Err(hint(
            format!("{} holds no Pod", a.target),
            "tandem graph draws v1 Pods",
        ));
    }
    if let Err(diags) = tandem_api::load(&sources, &Default::default()) {
        eprintln!(
            "note: the manifest has {} error(s); `tandem lint {}` shows them",
            diags.errors().count(),
            a.target
        );
    }
    let names: Vec<String> = pods
        .iter()
        .map(|p| p.object.metadata.name.clone().unwrap_or_default())
        .collect();
    let index = match &a.pod {
        Some(want) => names.iter().position(|n| n == want).ok_or_else(|| {
            hint(
                format!("{} holds no pod named {want:?}", a.target),
                format!("its pods: {}", names.join(", ")),
            )
        })?,
        None if pods.len() == 1 => 0,
        None => {
            return Err(hint(
                format!("{} holds {} pods", a.target, pods.len()),
                format!("choose one with --pod NAME: {}", names.join(", ")),
            ))
        }
    };
    Ok(pods.swap_remove(index).object)
}

pub fn graph(store: &Store, a: GraphArgs) -> anyhow::Result<i32> {
    let is_file = a.target == "-" || Path::new(&a.target).is_file();
    let pod = if is_file {
        pod_from_file(&a)?
    } else {
        read_pod(&existing_pod(store, &a.namespace, pod_name(&a.target))?)?
    };
    let diagram = Diagram::of(&Topology::of(&pod));
    let out = match a.output {
        GraphFormat::Mermaid => diagram.mermaid(),
        GraphFormat::Dot => diagram.dot(),
        GraphFormat::Svg => diagram.svg(),
    };
    print!("{out}");
    Ok(0)
}
