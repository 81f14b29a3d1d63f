//! `tandem label` and `tandem annotate` (kubectl label, kubectl annotate) of pods, and the one way
//! a pod already made changes its labels, annotations or images: through its supervisor
//! (`set_metadata`, `set_image`), or, once the supervisor has exited, in its object directly. The
//! API endpoint's updates take the same way.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Pod;
use tandem_api::updates::{pod_update, PodUpdate, Refusal};
use tandem_supervisor::proto::Request;
use tandem_supervisor::statedir::{PodDir, Store};

use super::{existing_pod, list_pods, read_pod};
use crate::cli::MetadataArgs;
use crate::errors::hint;

/// Which of a pod's maps a verb changes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Labels,
    Annotations,
}

impl Field {
    fn word(self) -> &'static str {
        match self {
            Field::Labels => "label",
            Field::Annotations => "annotation",
        }
    }

    fn of(self, pod: &Pod) -> BTreeMap<String, String> {
        match self {
            Field::Labels => pod.metadata.labels.clone(),
            Field::Annotations => pod.metadata.annotations.clone(),
        }
        .unwrap_or_default()
    }
}

/// Changes a pod as `update` says: `Ok(Err(why))` when the pod refuses it (its supervisor's
/// words), `Err` when it cannot be reached.
pub(crate) fn apply_pod_update(
    dir: &PodDir,
    name: &str,
    update: &PodUpdate,
) -> anyhow::Result<Result<(), String>> {
    if update.is_empty() {
        return Ok(Ok(()));
    }
    if dir.live_supervisor().is_none() {
        // Nobody writes an ended pod's object any more: the change is recorded here.
        record_ended(dir, update)?;
        return Ok(Ok(()));
    }
    let mut asks = vec![];
    if !update.metadata.is_empty() {
        asks.push(Request::SetMetadata(update.metadata.clone()));
    }
    if !update.images.is_empty() {
        asks.push(Request::SetImage {
            images: update.images.clone(),
        });
    }
    for ask in asks {
        if let Err(why) = super::supervisor_answer(dir, name, &ask)? {
            return Ok(Err(why.unwrap_or_else(|| "the pod is ending".into())));
        }
    }
    Ok(Ok(()))
}

/// An update of a pod whose supervisor has exited, written into its object.
fn record_ended(dir: &PodDir, update: &PodUpdate) -> anyhow::Result<()> {
    // As written, not as read_pod shows a lost pod.
    let mut pod: Pod = serde_json::from_slice(&std::fs::read(dir.pod_json())?)?;
    update.metadata.apply_to(&mut pod.metadata);
    if let Some(spec) = pod.spec.as_mut() {
        for c in spec
            .init_containers
            .iter_mut()
            .flatten()
            .chain(spec.containers.iter_mut())
        {
            if let Some(image) = update.images.get(&c.name) {
                c.image = Some(image.clone());
            }
        }
    }
    tandem_supervisor::statedir::write_atomic(&dir.pod_json(), &serde_json::to_vec_pretty(&pod)?)?;
    Ok(())
}

/// What the command line asks: the pods and the changes.
struct Asked {
    pods: Vec<String>,
    set: BTreeMap<String, String>,
    remove: Vec<String>,
}

/// Reads `pods NAME… KEY=VALUE… KEY-…` (or `pod/NAME`), as kubectl reads it.
fn read_args(args: &[String], field: Field, every: bool) -> anyhow::Result<Asked> {
    let word = field.word();
    let (resource, rest) =
        match args.split_first() {
            Some((first, rest)) => (first.as_str(), rest),
            None => return Err(hint(
                "one or more resources must be specified as <resource> <name> or <resource>/<name>",
                format!("e.g. `tandem {word} pod web app=web`"),
            )),
        };
    let (kind, first_name) = match resource.split_once('/') {
        Some((k, n)) => (k, Some(n.to_string())),
        None => (resource, None),
    };
    if !matches!(kind, "pod" | "pods" | "po") {
        return Err(hint(
            format!("tandem {word}s pods only, not {kind}"),
            format!("`tandem {word} pod NAME KEY=VALUE`"),
        ));
    }
    let mut asked = Asked {
        pods: first_name.into_iter().collect(),
        set: BTreeMap::new(),
        remove: vec![],
    };
    for a in rest {
        if let Some((k, v)) = a.split_once('=') {
            if v.contains('=') {
                return Err(hint(
                    format!("invalid {word} spec: {a}"),
                    "write KEY=VALUE, KEY- to remove",
                ));
            }
            asked.set.insert(k.to_string(), v.to_string());
        } else if let Some(k) = a.strip_suffix('-') {
            asked.remove.push(k.to_string());
        } else if asked.set.is_empty() && asked.remove.is_empty() {
            asked.pods.push(a.clone());
        } else {
            return Err(hint(
                format!("unknown {word} spec: {a}"),
                "write KEY=VALUE, KEY- to remove",
            ));
        }
    }
    if asked.set.is_empty() && asked.remove.is_empty() {
        return Err(hint(
            format!("at least one {word} update is required"),
            format!("e.g. `tandem {word} pod web tier=front`"),
        ));
    }
    if asked.remove.iter().any(|k| asked.set.contains_key(k)) {
        return Err(hint(
            format!("can not both modify and remove a {word} in the same command"),
            "give each key once",
        ));
    }
    if asked.pods.is_empty() && !every {
        return Err(hint(
            "one or more resources must be specified as <resource> <name> or <resource>/<name>",
            "name the pods, or pass --all or -l SELECTOR",
        ));
    }
    Ok(asked)
}

/// `tandem label` and `tandem annotate`.
pub fn change(store: &Store, a: MetadataArgs, field: Field) -> anyhow::Result<i32> {
    let selector = super::label_selector(a.selector.as_deref())?;
    let asked = read_args(&a.args, field, a.all || selector.is_some())?;
    let mut dirs = vec![];
    for name in &asked.pods {
        dirs.push((name.clone(), existing_pod(store, &a.namespace, name)?));
    }
    if asked.pods.is_empty() {
        for dir in list_pods(store)? {
            let Ok(pod) = read_pod(&dir) else { continue };
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            if pod.metadata.namespace.as_deref().unwrap_or("default") == a.namespace
                && selector.as_ref().is_none_or(|s| s.matches(&labels))
            {
                dirs.push((pod.metadata.name.clone().unwrap_or_default(), dir));
            }
        }
        dirs.sort_by(|x, y| x.0.cmp(&y.0));
    }
    for (name, dir) in dirs {
        let pod = read_pod(&dir)?;
        let before = field.of(&pod);
        if !a.overwrite {
            let taken: Vec<String> = asked
                .set
                .iter()
                .filter_map(|(k, v)| {
                    before
                        .get(k)
                        .filter(|old| *old != v)
                        .map(|old| format!("'{k}' already has a value ({old})"))
                })
                .collect();
            if !taken.is_empty() {
                return Err(hint(
                    format!("{}, and --overwrite is false", taken.join(", ")),
                    "pass --overwrite to replace them",
                ));
            }
        }
        for k in asked.remove.iter().filter(|k| !before.contains_key(*k)) {
            println!("{} {k:?} not found.", field.word());
        }
        let mut after = before.clone();
        after.extend(asked.set.clone());
        after.retain(|k, _| !asked.remove.contains(k));
        // Judged as the API server judges an update of the pod: keys and values must be valid.
        let old = serde_json::to_value(&pod)?;
        let mut new = old.clone();
        let key = match field {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        };
        new["metadata"][key] = serde_json::to_value(&after)?;
        let update = pod_update(&old, &new).map_err(|r| match r {
            Refusal::Forbidden { field, message } | Refusal::NotSupported { field, message } => {
                hint(
                    format!("the pod \"{name}\" is invalid: {field}: {message}"),
                    "keys are [prefix/]name of letters, digits, '-', '_' and '.'; label values at most 63 of them",
                )
            }
        })?;
        if let Err(why) = apply_pod_update(&dir, &name, &update)? {
            return Err(hint(
                format!("pod {name} did not take the change: {why}"),
                format!("`tandem get pod {name}` shows it"),
            ));
        }
        println!("pod/{name} {}", message(field, &before, &after));
    }
    Ok(0)
}

/// kubectl's word for what happened: `labeled`, `unlabeled`, `label(s) changed`, `not labeled`;
/// `annotate` always says `annotated`.
fn message(
    field: Field,
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> &'static str {
    if field == Field::Annotations {
        return "annotated";
    }
    let removed = before.keys().any(|k| !after.contains_key(k));
    let added = after.iter().any(|(k, v)| before.get(k) != Some(v));
    match (added, removed) {
        (true, true) => "label(s) changed",
        (true, false) => "labeled",
        (false, true) => "unlabeled",
        (false, false) => "not labeled",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(words: &[&str]) -> Vec<String> {
        words.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn arguments_and_messages_read_as_kubectls() {
        let a = read_args(
            &args(&["pods", "web", "db", "tier=front", "old-"]),
            Field::Labels,
            false,
        )
        .expect("args");
        assert_eq!(a.pods, ["web", "db"]);
        assert_eq!(a.set.get("tier").map(String::as_str), Some("front"));
        assert_eq!(a.remove, ["old"]);
        let a = read_args(&args(&["pod/web", "note=x"]), Field::Annotations, false).expect("args");
        assert_eq!(a.pods, ["web"]);
        assert!(read_args(&args(&["pod", "web"]), Field::Labels, false).is_err());
        assert!(read_args(&args(&["deploy", "web", "a=b"]), Field::Labels, false).is_err());
        assert!(read_args(&args(&["pod", "web", "a=b", "a-"]), Field::Labels, false).is_err());
        assert!(read_args(&args(&["pods", "a=b"]), Field::Labels, false).is_err());
        assert!(read_args(&args(&["pods", "a=b"]), Field::Labels, true).is_ok());

        let m = |b: &[(&str, &str)], a: &[(&str, &str)]| {
            let map = |x: &[(&str, &str)]| {
                x.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect::<BTreeMap<_, _>>()
            };
            message(Field::Labels, &map(b), &map(a))
        };
        assert_eq!(m(&[("a", "b")], &[("a", "b")]), "not labeled");
        assert_eq!(m(&[], &[("a", "b")]), "labeled");
        assert_eq!(m(&[("a", "b")], &[("a", "c")]), "labeled");
        assert_eq!(m(&[("a", "b")], &[]), "unlabeled");
        assert_eq!(m(&[("a", "b")], &[("c", "d")]), "label(s) changed");
    }
}
