//! `tandem apply -f FILE...` (kubectl apply): what the files hold that the store does not have
//! is made as `run -d` makes it; what it has is changed to what the files now say, each change
//! judged as the API server judges an update (`tandem_api::updates`): a workload's new template
//! rolls out, its new replica count scales, a pod's new image restarts that container, a
//! Service's new ports route. Every file is checked and every change judged before anything is
//! made or changed, so a refused change refuses the whole apply.

use std::collections::BTreeMap;

use serde_json::Value;
use tandem_api::updates::{Refusal, WorkloadUpdate};
use tandem_api::{Loaded, Workload};
use tandem_supervisor::statedir::{PodDir, Store};

use super::controller::{self, WorkloadDir};
use super::{metadata, run, service_proxy, service_store};
use crate::cli::ApplyArgs;
use crate::errors::{hint, Reported};

/// A change judged, to be made once every other one is judged too.
enum Change {
    Pod {
        dir: PodDir,
        name: String,
        update: tandem_api::updates::PodUpdate,
    },
    Workload {
        object: Box<Workload>,
        spec_changed: bool,
        references: Vec<Value>,
    },
    Service(Box<k8s_openapi::api::core::v1::Service>),
    Endpoints(Box<tandem_api::LoadedEndpoints>),
}

/// One object of the files and what becomes of it, for the line kubectl prints about it.
struct Outcome {
    /// Where it is written (file, line), the order the lines are printed in.
    at: (String, usize),
    /// `deployment.apps/web`.
    object: String,
    change: Option<Change>,
    /// `created`, `configured` or `unchanged`.
    word: &'static str,
}

pub fn apply(store: &Store, a: ApplyArgs) -> anyhow::Result<i32> {
    let mut files = a.filename.clone();
    files.extend(a.files.iter().cloned());
    let loaded = run::load_files(store, &files, existing_uids(store), "nothing was applied")?;
    let (new, mut outcomes, refused) = judge(store, loaded)?;
    if !refused.is_empty() {
        for r in &refused {
            eprintln!("error: {r}");
        }
        eprintln!(
            "hint: change what the API server lets change, or delete the object and apply again"
        );
        eprintln!(
            "error: {} change(s) refused; nothing was applied",
            refused.len()
        );
        return Err(Reported.into());
    }
    let creates = !(new.pods.is_empty()
        && new.workloads.is_empty()
        && new.services.is_empty()
        && new.endpoints.is_empty());
    // A file of nothing tandem runs is refused as `run` refuses it.
    if creates || outcomes.is_empty() {
        run::create_loaded(store, &a.pods, &[], new)?;
    }
    let mut services_changed = false;
    for o in &mut outcomes {
        match o.change.take() {
            None => {}
            Some(Change::Pod { dir, name, update }) => {
                if let Err(why) = metadata::apply_pod_update(&dir, &name, &update)? {
                    return Err(hint(
                        format!("pod \"{name}\" could not be changed: {why}"),
                        "`tandem describe pod` shows its state",
                    ));
                }
            }
            Some(Change::Workload {
                object,
                spec_changed,
                references,
            }) => {
                super::workloads::change(store, *object, &references, spec_changed)?;
            }
            Some(Change::Service(s)) => {
                service_store::replace(store, *s)?;
                services_changed = true;
            }
            Some(Change::Endpoints(e)) => {
                service_store::remove_manual(store, &e.object);
                service_store::create_manual(store, std::slice::from_ref(&e))?;
                services_changed = true;
            }
        }
    }
    if services_changed {
        service_proxy::settle(store);
    }
    outcomes.sort_by(|x, y| x.at.cmp(&y.at));
    for o in &outcomes {
        println!("{} {}", o.object, o.word);
    }
    Ok(0)
}

/// The uids of what the store has, by (kind, namespace, name), which the files' objects that
/// update them keep.
fn existing_uids(store: &Store) -> BTreeMap<(String, String, String), String> {
    let mut out = BTreeMap::new();
    let mut put =
        |kind: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta| {
            if let (Some(uid), Some(name)) = (&meta.uid, &meta.name) {
                let ns = meta.namespace.clone().unwrap_or_else(|| "default".into());
                out.insert((kind.to_string(), ns, name.clone()), uid.clone());
            }
        };
    for dir in super::list_pods(store).unwrap_or_default() {
        if let Ok(pod) = super::read_pod(&dir) {
            put("Pod", &pod.metadata);
        }
    }
    for dir in controller::list(store) {
        if let Ok(w) = dir.read() {
            put(w.kind().name(), w.metadata());
        }
    }
    for (_, s) in service_store::list(store) {
        put("Service", &s.metadata);
    }
    out
}

/// Splits what the files hold into what is new (made as `run` makes it) and what exists, each
/// change of which is judged here: the outcomes, and the refusals in the API server's words.
fn judge(store: &Store, loaded: Loaded) -> anyhow::Result<(Loaded, Vec<Outcome>, Vec<String>)> {
    let mut new = Loaded {
        pods: vec![],
        workloads: vec![],
        claims: loaded.claims.clone(),
        references: loaded.references.clone(),
        services: vec![],
        endpoints: vec![],
        warnings: vec![],
    };
    let mut outcomes = vec![];
    let mut refused = vec![];
    let mut judged = |at: (String, usize),
                      object: String,
                      kind: &str,
                      name: &str,
                      verdict: Result<Option<Change>, Refusal>| {
        match verdict {
            Ok(change) => outcomes.push(Outcome {
                at,
                object,
                word: if change.is_some() {
                    "configured"
                } else {
                    "unchanged"
                },
                change,
            }),
            Err(r) => refused.push(refusal(kind, name, r)),
        }
    };
    let mut created = vec![];
    for p in loaded.pods {
        let (ns, name) = (p.plan.namespace.clone(), p.plan.name.clone());
        let dir = store.pod(&ns, &name);
        let at = (p.file.clone(), p.line);
        match std::fs::read(dir.pod_json()) {
            Err(_) => {
                created.push((at, format!("pod/{name}")));
                new.pods.push(p);
            }
            Ok(bytes) => {
                let old: Value = serde_json::from_slice(&bytes)?;
                let mut proposed = old.clone();
                let given = serde_json::to_value(&p.object)?;
                for f in ["labels", "annotations"] {
                    proposed["metadata"][f] = given["metadata"][f].clone();
                }
                proposed["spec"] = given["spec"].clone();
                let verdict = tandem_api::updates::pod_update(&old, &proposed).map(|update| {
                    (!update.is_empty()).then(|| Change::Pod {
                        dir: dir.clone(),
                        name: name.clone(),
                        update,
                    })
                });
                judged(at, format!("pod/{name}"), "Pod", &name, verdict);
            }
        }
    }
    for w in loaded.workloads {
        let kind = w.object.kind();
        let (ns, name) = (
            w.object.namespace().to_string(),
            w.object.name().to_string(),
        );
        let dir = WorkloadDir::of(store, kind, &ns, &name);
        let at = (w.file.clone(), w.line);
        let shown = format!("{}/{name}", kind.group_kind());
        let Ok(old) = dir.read() else {
            created.push((at, shown));
            new.workloads.push(w);
            continue;
        };
        let mut object = w.object;
        let meta = object.metadata_mut();
        meta.creation_timestamp = old.metadata().creation_timestamp.clone();
        meta.generation = old.metadata().generation;
        let kept = dir.read_settings().map(|s| s.1).unwrap_or_default();
        let references = merged(kept, &loaded.references);
        let verdict = tandem_api::updates::workload_update(kind, &old.to_json(), &object.to_json())
            .map(|u| {
                (u != WorkloadUpdate::default()).then_some(Change::Workload {
                    spec_changed: u.spec_changed,
                    object: Box::new(object),
                    references,
                })
            });
        judged(at, shown, kind.name(), &name, verdict);
    }
    for s in loaded.services {
        let name = service_store::name_of(&s.object).to_string();
        let dir =
            service_store::ServiceDir::of(store, service_store::namespace_of(&s.object), &name);
        let at = (s.file.clone(), s.line);
        let Ok(old) = dir.read() else {
            created.push((at, format!("service/{name}")));
            new.services.push(s);
            continue;
        };
        let old = serde_json::to_value(&old)?;
        let mut proposed = serde_json::to_value(&s.object)?;
        tandem_api::updates::keep_allocated(&old, &mut proposed);
        let verdict = match tandem_api::updates::service_update(&old, &proposed) {
            Ok(true) => serde_json::from_value(proposed)
                .map(|s| Some(Change::Service(Box::new(s))))
                .map_err(|e| Refusal::Forbidden {
                    field: "spec".into(),
                    message: e.to_string(),
                }),
            Ok(false) => Ok(None),
            Err(r) => Err(r),
        };
        judged(at, format!("service/{name}"), "Service", &name, verdict);
    }
    for e in loaded.endpoints {
        let kind = e.object.kind();
        let name = e.object.metadata().name.clone().unwrap_or_default();
        let shown = match kind {
            "EndpointSlice" => format!("endpointslice.discovery.k8s.io/{name}"),
            _ => format!("endpoints/{name}"),
        };
        let at = (e.file.clone(), e.line);
        match service_store::read_manual(store, &e.object) {
            None => {
                created.push((at, shown));
                new.endpoints.push(e);
            }
            Some(mut old) => {
                // The same but for when it was made.
                old["metadata"]
                    .as_object_mut()
                    .map(|m| m.remove("creationTimestamp"));
                let same = match &e.object {
                    tandem_api::services::ManualEndpoints::Slice(s) => serde_json::to_value(s)?,
                    tandem_api::services::ManualEndpoints::Endpoints(x) => serde_json::to_value(x)?,
                } == old;
                let change = (!same).then(|| Change::Endpoints(Box::new(e)));
                judged(at, shown, kind, &name, Ok(change));
            }
        }
    }
    outcomes.extend(created.into_iter().map(|(at, object)| Outcome {
        at,
        object,
        change: None,
        word: "created",
    }));
    Ok((new, outcomes, refused))
}

/// The ConfigMaps and Secrets a changed workload's pods resolve their references against: those
/// it kept from the files that made it, each replaced by the files' object of the same kind,
/// namespace and name, and the files' others.
fn merged(kept: Vec<Value>, given: &[Value]) -> Vec<Value> {
    let key = |v: &Value| {
        (
            v["kind"].clone(),
            v["metadata"]["namespace"].clone(),
            v["metadata"]["name"].clone(),
        )
    };
    let mut out: Vec<Value> = kept
        .into_iter()
        .filter(|k| !given.iter().any(|g| key(g) == key(k)))
        .collect();
    out.extend(given.iter().cloned());
    out
}

/// A change the API server refuses, in its words: `The Deployment "web" is invalid:
/// spec.selector: Invalid value: …: field is immutable`.
fn refusal(kind: &str, name: &str, r: Refusal) -> String {
    match r {
        Refusal::Forbidden { field, message } => {
            format!("The {kind} \"{name}\" is invalid: {field}: {message}")
        }
        Refusal::NotSupported { field, message } => {
            format!("The {kind} \"{name}\" cannot be changed here: {field}: {message}")
        }
    }
}
