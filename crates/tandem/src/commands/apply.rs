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
    let loaded = run::load_files(
        store,
        &files,
        existing_uids(store),
        a.strict,
        "nothing was applied",
    )?;
    // An object named only by `generateName` would be a new one at every apply: kubectl refuses
    // it, and so does this.
    if let Some(name) = loaded.generated_names.first() {
        return Err(hint(
            format!("cannot use generate name with apply (the object made as {name})"),
            "give the object a metadata.name, or make it with `tandem run -d`",
        ));
    }
    let references = loaded.references.clone();
    let kept = loaded.kept.clone();
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
    // The ConfigMaps, Secrets, ServiceAccounts and RBAC first, as `run` keeps them. A file of
    // nothing tandem runs (and nothing it keeps) is refused as `run` refuses it.
    run::keep_references(store, references.iter().chain(&kept))?;
    if creates || (outcomes.is_empty() && references.is_empty() && kept.is_empty()) {
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

/// What becomes of one object of the files: made, or its change judged (`None`: unchanged).
enum Verdict {
    New,
    Judged(Result<Option<Change>, Refusal>),
}

/// Splits what the files hold into what is new (made as `run` makes it) and what exists, each
/// change of which is judged here: the outcomes, and the refusals in the API server's words.
fn judge(store: &Store, loaded: Loaded) -> anyhow::Result<(Loaded, Vec<Outcome>, Vec<String>)> {
    let mut new = Loaded {
        pods: vec![],
        workloads: vec![],
        claims: loaded.claims.clone(),
        references: loaded.references.clone(),
        kept: loaded.kept.clone(),
        generated_names: vec![],
        services: vec![],
        endpoints: vec![],
        warnings: vec![],
    };
    let mut outcomes = vec![];
    let mut refused = vec![];
    // Records the verdict on an object (`kind` and `name` as the API server's words name it,
    // `object` as kubectl's lines do); whether it is new.
    let mut record = |at: (String, usize),
                      object: String,
                      (kind, name): (&str, &str),
                      verdict: Verdict| match verdict {
        Verdict::New => {
            outcomes.push(Outcome {
                at,
                object,
                change: None,
                word: "created",
            });
            true
        }
        Verdict::Judged(Ok(change)) => {
            let word = if change.is_some() {
                "configured"
            } else {
                "unchanged"
            };
            outcomes.push(Outcome {
                at,
                object,
                change,
                word,
            });
            false
        }
        Verdict::Judged(Err(r)) => {
            refused.push(refusal(kind, name, r));
            false
        }
    };
    for p in loaded.pods {
        let verdict = pod_verdict(store, &p)?;
        let shown = format!("pod/{}", p.plan.name);
        if record(
            (p.file.clone(), p.line),
            shown,
            ("Pod", &p.plan.name),
            verdict,
        ) {
            new.pods.push(p);
        }
    }
    for w in loaded.workloads {
        let verdict = workload_verdict(store, &w, &loaded.references)?;
        let kind = w.object.kind();
        let shown = format!("{}/{}", kind.group_kind(), w.object.name());
        if record(
            (w.file.clone(), w.line),
            shown,
            (kind.name(), w.object.name()),
            verdict,
        ) {
            new.workloads.push(w);
        }
    }
    for s in loaded.services {
        let verdict = service_verdict(store, &s)?;
        let name = service_store::name_of(&s.object).to_string();
        let shown = format!("service/{name}");
        if record((s.file.clone(), s.line), shown, ("Service", &name), verdict) {
            new.services.push(s);
        }
    }
    for e in loaded.endpoints {
        let verdict = endpoints_verdict(store, &e)?;
        let name = e.object.metadata().name.clone().unwrap_or_default();
        let shown = match e.object.kind() {
            "EndpointSlice" => format!("endpointslice.discovery.k8s.io/{name}"),
            _ => format!("endpoints/{name}"),
        };
        if record(
            (e.file.clone(), e.line),
            shown,
            (e.object.kind(), &name),
            verdict,
        ) {
            new.endpoints.push(e);
        }
    }
    Ok((new, outcomes, refused))
}

/// A pod's labels, annotations and spec as the file has them, judged against the stored pod's.
fn pod_verdict(store: &Store, p: &tandem_api::LoadedPod) -> anyhow::Result<Verdict> {
    let dir = store.pod(&p.plan.namespace, &p.plan.name);
    let Ok(bytes) = std::fs::read(dir.pod_json()) else {
        return Ok(Verdict::New);
    };
    let old: Value = serde_json::from_slice(&bytes)?;
    let mut proposed = old.clone();
    let given = serde_json::to_value(&p.object)?;
    for f in ["labels", "annotations"] {
        proposed["metadata"][f] = given["metadata"][f].clone();
    }
    proposed["spec"] = given["spec"].clone();
    let name = p.plan.name.clone();
    Ok(Verdict::Judged(
        tandem_api::updates::pod_update(&old, &proposed)
            .map(|update| (!update.is_empty()).then_some(Change::Pod { dir, name, update })),
    ))
}

/// A workload as the file has it (its identity the stored one's), judged against the stored
/// workload; its pods then resolve their references against the files' ConfigMaps and Secrets
/// as well as those it kept.
fn workload_verdict(
    store: &Store,
    w: &tandem_api::LoadedWorkload,
    given: &[Value],
) -> anyhow::Result<Verdict> {
    let kind = w.object.kind();
    let dir = WorkloadDir::of(store, kind, w.object.namespace(), w.object.name());
    let Ok(old) = dir.read() else {
        return Ok(Verdict::New);
    };
    let mut object = w.object.clone();
    let meta = object.metadata_mut();
    meta.creation_timestamp = old.metadata().creation_timestamp.clone();
    meta.generation = old.metadata().generation;
    let kept = dir.read_settings().map(|s| s.1).unwrap_or_default();
    let judged = tandem_api::updates::workload_update(kind, &old.to_json(), &object.to_json());
    Ok(Verdict::Judged(judged.map(|u| {
        (u != WorkloadUpdate::default()).then(|| Change::Workload {
            spec_changed: u.spec_changed,
            object: Box::new(object),
            references: merged(kept, given),
        })
    })))
}

/// A Service as the file has it, with the addresses and node ports it holds, judged against
/// the stored Service.
fn service_verdict(store: &Store, s: &tandem_api::LoadedService) -> anyhow::Result<Verdict> {
    let name = service_store::name_of(&s.object);
    let dir = service_store::ServiceDir::of(store, service_store::namespace_of(&s.object), name);
    let Ok(old) = dir.read() else {
        return Ok(Verdict::New);
    };
    let old = serde_json::to_value(&old)?;
    let mut proposed = serde_json::to_value(&s.object)?;
    tandem_api::updates::keep_allocated(&old, &mut proposed);
    Ok(Verdict::Judged(
        match tandem_api::updates::service_update(&old, &proposed) {
            Ok(true) => Ok(Some(Change::Service(Box::new(serde_json::from_value(
                proposed,
            )?)))),
            Ok(false) => Ok(None),
            Err(r) => Err(r),
        },
    ))
}

/// EndpointSlices or Endpoints given by hand: replaced when the file's differ from those
/// stored (but for when those were made).
fn endpoints_verdict(store: &Store, e: &tandem_api::LoadedEndpoints) -> anyhow::Result<Verdict> {
    let Some(mut old) = service_store::read_manual(store, &e.object) else {
        return Ok(Verdict::New);
    };
    if let Some(m) = old["metadata"].as_object_mut() {
        m.remove("creationTimestamp");
    }
    let given = match &e.object {
        tandem_api::services::ManualEndpoints::Slice(s) => serde_json::to_value(s)?,
        tandem_api::services::ManualEndpoints::Endpoints(x) => serde_json::to_value(x)?,
    };
    Ok(Verdict::Judged(Ok(
        (given != old).then(|| Change::Endpoints(Box::new(e.clone())))
    )))
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
